"""Hypothesis (and schemathesis) keep no example database in the tree: runs are bounded and derandomized."""

from hypothesis import settings

settings.register_profile("jood", database=None, derandomize=True)
settings.load_profile("jood")
