"""Encrypted model fields that never hand back a value they could not decrypt.

django-encrypted-model-fields returns the ciphertext itself when no key of
FIELD_ENCRYPTION_KEY decrypts a column: a callback would then go out signed
with garbage and nothing would say so. These fields (drop-in subclasses) log
an error instead and hand back `Undecryptable`, a value that refuses every use
as text (`str()`, formatting, saving) with `UndecryptableValue`; the places
that use a secret check for it (`is_undecryptable`) and hold their work.

`encrypted_fields()` walks every installed model for encrypted fields, so
`rotate_encryption_keys` covers a field added tomorrow without a list.
"""

from __future__ import annotations

import logging

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import models, transaction
from encrypted_model_fields import fields as library
from encrypted_model_fields.fields import EncryptedMixin

log = logging.getLogger(__name__)


class UndecryptableValue(ValueError):
    """An encrypted column that no configured key decrypts was about to be used."""


class Undecryptable:
    """What an encrypted field holds when no key decrypts it: never usable as a value."""

    __slots__ = ("label",)

    def __init__(self, label: str):
        self.label = label

    def _refuse(self, *args, **kwargs):
        raise UndecryptableValue(
            f"{self.label} cannot be decrypted with any key of FIELD_ENCRYPTION_KEY; it is not used."
        )

    __str__ = __format__ = __len__ = __iter__ = __getitem__ = _refuse

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<undecryptable {self.label}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Undecryptable) and other.label == self.label

    def __hash__(self) -> int:
        return hash(("undecryptable", self.label))


def is_undecryptable(value) -> bool:
    return isinstance(value, Undecryptable)


class StrictEncryptedMixin(EncryptedMixin):
    """Decrypts what the database holds; a value no key decrypts is logged and never used."""

    def from_db_value(self, value, *args, **kwargs):
        if value is None or value == "":
            return value
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        try:
            plain = library.CRYPTER.decrypt(value.encode("utf-8")).decode("utf-8")
        except InvalidToken:
            label = f"{self.model._meta.label}.{self.name}"
            log.error("%s: no key of FIELD_ENCRYPTION_KEY decrypts the stored value; it will not be used", label)
            return Undecryptable(label)
        return super(EncryptedMixin, self).to_python(plain)


class EncryptedCharField(StrictEncryptedMixin, models.CharField):
    pass


class EncryptedTextField(StrictEncryptedMixin, models.TextField):
    pass


def encrypted_fields() -> list[tuple[type[models.Model], list[models.Field]]]:
    """Every installed model with encrypted fields, and those fields (found by walking the models)."""
    found = []
    for model in apps.get_models():
        names = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedMixin)]
        if names and not model._meta.proxy:
            found.append((model, names))
    return found


class RotationStopped(Exception):
    """Some values cannot be decrypted: nothing was re-encrypted."""


def reencrypt_every_field(batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every encrypted field of every model with the newest key, in one transaction.

    Returns rows re-encrypted per model label. Raises RotationStopped (naming model, field and row
    count, never a value) if any value cannot be decrypted: then nothing changes.
    """
    counts: dict[str, int] = {}
    with transaction.atomic():
        problems: dict[str, list] = {}
        for model, fields in encrypted_fields():
            names = [f.attname for f in fields]
            label = model._meta.label
            count = 0
            for row in model._base_manager.only("pk", *names).order_by("pk").iterator(chunk_size=batch_size):
                bad = [f"{label}.{n}" for n in names if is_undecryptable(getattr(row, n))]
                for name in bad:
                    problems.setdefault(name, []).append(row.pk)
                if not bad and not problems:
                    # One UPDATE per row: bulk_update would encrypt its CASE expression, not the values.
                    row.save(update_fields=names)
                    count += 1
            counts[label] = count
        if problems:
            summary = "; ".join(f"{name}: {len(pks)} row(s), ids {pks[:10]}" for name, pks in sorted(problems.items()))
            log.error("key rotation stopped, nothing changed: no key decrypts %s", summary)
            raise RotationStopped(f"No key of FIELD_ENCRYPTION_KEY decrypts {summary}.")
    return counts
