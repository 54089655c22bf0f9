"""Imports every adapter module so that each registers itself."""

from providers import infobip, sandbox, twilio, unifonic, whatsapp  # noqa: F401
