"""Imports every adapter module so that each registers itself."""

from providers import sandbox  # noqa: F401
