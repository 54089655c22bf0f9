"""The registry: every adapter, in the order people see them (the model's choices, forms).

Provider names live here only: `providers.models.Provider`, the intake URLs
and the MMS routing are derived from these classes and their capabilities.
"""

from providers.infobip import InfobipAdapter
from providers.sandbox import SandboxAdapter
from providers.twilio import TwilioAdapter
from providers.unifonic import UnifonicAdapter
from providers.whatsapp import WhatsAppAdapter

ADAPTERS = (TwilioAdapter, InfobipAdapter, UnifonicAdapter, WhatsAppAdapter, SandboxAdapter)
