"""Re-encrypt every provider credential with the newest key.

Put the new key first in FIELD_ENCRYPTION_KEY (comma separated, old keys
after it), run this, then drop the old keys.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from providers.services import reencrypt_all


class Command(BaseCommand):
    help = "Re-encrypt every provider credential with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        keys = settings.FIELD_ENCRYPTION_KEY
        if len(keys) < 2:
            self.stdout.write("FIELD_ENCRYPTION_KEY holds one key: re-encrypting with it anyway.")
        try:
            with transaction.atomic():
                count = reencrypt_all()
        except Exception as exc:  # an undecryptable row: no key given can read it
            raise CommandError(f"Re-encryption stopped, nothing changed: {exc.__class__.__name__}") from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} provider account(s) with the newest key."))
