"""Placeholder: the sfsim fixture lands here (helper-1)."""
