"""Key rotation covers every encrypted field of every model, and an undecryptable value is never used.

`rotate_encryption_keys` finds the encrypted fields by walking the models (a
field added tomorrow is covered without touching the command). A value that no
configured key decrypts fails loudly: the command stops with nothing changed,
an error is logged, and a callback whose signing secret cannot be read is held,
not sent signed with garbage.
"""

from __future__ import annotations

import logging

import pytest
import responses
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from encrypted_model_fields import fields as encrypted_fields
from encrypted_model_fields.fields import EncryptedMixin

from jood import crypto
from providers import services as provider_services
from webhooks import callbacks
from webhooks import services as webhook_services
from webhooks.models import CallbackAttempt, CallbackDelivery


def every_encrypted_field():
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedMixin):
                yield model, field


def raw(model, field, pk) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(field.column)} FROM {connection.ops.quote_name(model._meta.db_table)} "
            "WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def rows(acme):
    """One row of every model with an encrypted field, each field holding a value."""
    account = provider_services.connect_account(
        acme,
        provider="twilio",
        channel="sms",
        label="T",
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": "x" * 32},
    )
    provider_services.rotate_webhook_secret(account)  # previous_webhook_secret holds a value too
    endpoint, _ = webhook_services.create_endpoint(acme, "https://example.com/hook")
    webhook_services.rotate_endpoint_secret(endpoint)
    return {type(account): account, type(endpoint): endpoint}


def test_every_encrypted_field_is_a_strict_one():
    found = list(every_encrypted_field())
    assert len(found) >= 5
    for model, field in found:
        assert isinstance(field, crypto.StrictEncryptedMixin), f"{model._meta.label}.{field.name}"


def test_rotation_reencrypts_every_encrypted_field_of_every_model(rows, monkeypatch):
    models_with_fields = {model for model, _ in every_encrypted_field()}
    assert models_with_fields <= set(rows), "a model with an encrypted field has no row in this test"
    old_keys = list(encrypted_fields.CRYPTER._fernets)
    new_key = Fernet.generate_key()
    monkeypatch.setattr(encrypted_fields, "CRYPTER", MultiFernet([Fernet(new_key), *old_keys]))
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))

    for model, field in every_encrypted_field():
        value = raw(model, field, rows[model].pk)
        assert value, f"{model._meta.label}.{field.name} is empty"
        Fernet(new_key).decrypt(value.encode())
        for old in old_keys:
            with pytest.raises(InvalidToken):
                old.decrypt(value.encode())
    monkeypatch.setattr(encrypted_fields, "CRYPTER", MultiFernet([Fernet(new_key)]))
    for model, field in every_encrypted_field():
        fresh = model.objects.get(pk=rows[model].pk)
        assert getattr(fresh, field.attname) == getattr(rows[model], field.attname)


def test_a_value_no_key_decrypts_stops_the_rotation_with_nothing_changed(rows, monkeypatch, caplog):
    endpoint = rows[next(m for m in rows if m._meta.label == "webhooks.CallbackEndpoint")]
    account = rows[next(m for m in rows if m._meta.label == "providers.ProviderAccount")]
    lost = Fernet(Fernet.generate_key()).encrypt(b"whsec_lost").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE webhooks_callbackendpoint SET secret = %s WHERE id = %s", [lost, endpoint.pk])
    before = raw(type(account), type(account)._meta.get_field("credentials"), account.pk)
    new_key = Fernet.generate_key()
    monkeypatch.setattr(encrypted_fields, "CRYPTER", MultiFernet([Fernet(new_key), *encrypted_fields.CRYPTER._fernets]))
    with caplog.at_level(logging.ERROR), pytest.raises(CommandError) as stopped:
        call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))
    assert "webhooks.CallbackEndpoint.secret" in str(stopped.value)
    assert "whsec_lost" not in caplog.text and lost not in caplog.text
    assert raw(type(account), type(account)._meta.get_field("credentials"), account.pk) == before


def test_a_callback_whose_secret_cannot_be_decrypted_is_held_and_logged_not_sent(rows, settings, caplog, monkeypatch):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    endpoint = rows[next(m for m in rows if m._meta.label == "webhooks.CallbackEndpoint")]
    delivery = CallbackDelivery.objects.create(
        endpoint=endpoint,
        organization_id=endpoint.organization_id,
        url=endpoint.url,
        event_type="message.status",
        payload={"type": "message.status"},
        webhook_id="msg_held",
    )
    lost = Fernet(Fernet.generate_key()).encrypt(b"whsec_lost").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE webhooks_callbackendpoint SET secret = %s WHERE id = %s", [lost, endpoint.pk])

    with caplog.at_level(logging.ERROR), responses.RequestsMock() as http:
        result = callbacks.attempt_delivery(delivery.pk, force=True)
    assert not http.calls
    assert result.state == CallbackDelivery.State.PENDING
    assert "cannot be decrypted" in result.last_error
    assert result.next_attempt_at is not None
    assert not CallbackAttempt.objects.filter(delivery=delivery).exists()
    assert any(r.levelno >= logging.ERROR and "msg_held" in r.getMessage() for r in caplog.records)
