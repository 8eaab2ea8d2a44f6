"""Helpers for tests that need real Ibutsu databases."""
