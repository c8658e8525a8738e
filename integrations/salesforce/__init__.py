"""The Salesforce client layer: OAuth, sessions, typed errors, SOQL literals, preflight checks.

Every other module talks to Salesforce through ``integrations.salesforce.client``; nothing else calls
``requests`` or simple-salesforce directly.
"""
