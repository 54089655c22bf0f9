"""Re-encrypt every encrypted field of every model with the newest key.

Put the new key first in FIELD_ENCRYPTION_KEY (comma separated, old keys
after it), run this, then drop the old keys. The fields are found by walking
the models (jood/crypto.py), so every secret is covered: provider credentials
and webhook tokens, callback signing secrets, and any encrypted field added
later. A value no configured key decrypts stops the run with nothing changed,
and says which model, field and rows.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jood.crypto import RotationStopped, reencrypt_every_field


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field of every model with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        keys = settings.FIELD_ENCRYPTION_KEY
        if len(keys) < 2:
            self.stdout.write("FIELD_ENCRYPTION_KEY holds one key: re-encrypting with it anyway.")
        try:
            counts = reencrypt_every_field()
        except RotationStopped as exc:
            raise CommandError(f"Re-encryption stopped, nothing changed. {exc}") from None
        for label, count in sorted(counts.items()):
            self.stdout.write(f"{label}: {count} row(s)")
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {sum(counts.values())} row(s) with the newest key."))
