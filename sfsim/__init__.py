"""sfsim: a simulated Salesforce org served over HTTPS (see README.md)."""
