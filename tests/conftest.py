"""Shared fixtures. The simulated Salesforce org (one per test session) lives in tests/fixtures_sfsim.py."""

pytest_plugins = ["tests.fixtures_sfsim"]
