"""Salesforce connections and the sync engine's state. (Built out with the connection issue.)"""
