"""CRM mappings: which Salesforce fields flow to which Rox fields, and how. (Built out with the mappings issue.)"""
