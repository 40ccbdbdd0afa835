"""Helpers shared by the tests: real processes, free ports, databases."""
