"""The one set of factories every test uses: plain functions, one return type each.

Database rows (need the `db` fixture, or a fixture that has it):

- `make_user` -> User, `make_api_client` / `make_privacy_api_client` -> APIClient, `login` -> Client;
- `make_account` -> ProviderAccount;
- `make_message` -> Message, of an organization or of a provider account.

Adapter values (no database), what an adapter receives from the app:

- `account_config` -> providers.base.AccountConfig;
- `outbound_message` -> providers.base.OutboundMessage.

Defaults are what most tests want; a test passes as keywords what it is about.
"""

from __future__ import annotations

from datetime import datetime

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Membership, Organization, Role, User
from messaging.models import Message, Status
from providers.base import AccountConfig, OutboundMessage
from providers.models import Channel, Provider, ProviderAccount

TO = "+966501234567"
BODY = "Your code is 1234"
# An outbound message's public id (a UUID string) in adapter tests.
OUTBOUND_ID = "8c1f0b7e-0000-4000-8000-000000000001"


def make_user(email: str, organization: Organization | None = None, role: str = Role.MEMBER) -> User:
    """Create a user, a member of `organization` with `role` when given."""
    now = timezone.now()
    # Consent as sign-up records it, so portal pages do not ask for it again.
    user = User.objects.create_user(
        email,
        name=email.split("@")[0].title(),
        privacy_policy_version=services.current_policy_version(),
        privacy_accepted_at=now,
        confirmed_adult_at=now,
    )
    if organization is not None:
        Membership.objects.create(user=user, organization=organization, role=role)
    return user


def _api_client(secret: str, key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    client.key = key
    client.secret = secret
    return client


def make_api_client(organization: Organization, role: str = Role.MEMBER) -> APIClient:
    """Return an APIClient sending `Authorization: Token <secret>` of a new key with `role`."""
    key, secret = services.create_api_key(organization, f"{organization.name} {role} key", role=role)
    return _api_client(secret, key)


def make_privacy_api_client(organization: Organization, owner: User) -> APIClient:
    """Return an APIClient with an admin key that `owner` gave the `privacy` scope (owner-only actions)."""
    key, secret = services.create_api_key(
        organization,
        f"{organization.name} privacy key",
        role=Role.ADMIN,
        scopes=["privacy"],
        actor=services.Actor(user=owner),
    )
    return _api_client(secret, key)


def login(user: User) -> Client:
    """Return a test Client logged in as `user`."""
    client = Client()
    client.force_login(user)
    return client


def make_account(
    organization: Organization, provider: str = Provider.SANDBOX, channel: str = Channel.SMS, credentials=None, **fields
) -> ProviderAccount:
    """Create a provider account, labelled "<provider> <channel>" and never rate limited unless `fields` say."""
    fields.setdefault("label", f"{provider} {channel}")
    fields.setdefault("messages_per_second", 0)
    account = ProviderAccount(organization=organization, provider=provider, channel=channel, **fields)
    account.set_credentials(credentials or {})
    account.save()
    return account


def make_message(
    of: Organization | ProviderAccount,
    created_at: datetime | None = None,
    *,
    status: str = Status.SENT,
    to: str = TO,
    body: str = BODY,
    **fields,
) -> Message:
    """Create a message as the dispatcher leaves it after a send (`status` sent, `sent_at` set).

    `of` is an organization, or a provider account: then the message is the account's
    (organization, channel, provider). `created_at` (default now) is also `queued_at`.
    """
    created_at = created_at or timezone.now()
    if isinstance(of, ProviderAccount):
        fields.setdefault("provider_account", of)
        fields.setdefault("provider", of.provider)
        fields.setdefault("channel", of.channel)
        organization = of.organization
    else:
        organization = of
    fields.setdefault("channel", Channel.SMS)
    fields.setdefault("queued_at", created_at)
    if status == Status.SENT:
        fields.setdefault("sent_at", created_at)
    return Message.objects.create(
        organization=organization, to=to, body=body, status=status, created_at=created_at, **fields
    )


def account_config(provider: str = Provider.SANDBOX, **fields) -> AccountConfig:
    """Return what an adapter knows of an account: `id` "acc_test", channel sms, no credentials unless `fields` say."""
    fields.setdefault("id", "acc_test")
    fields.setdefault("channel", Channel.SMS)
    fields["credentials"] = dict(fields.get("credentials") or {})  # a copy: a test's changes stay its own
    return AccountConfig(provider=provider, **fields)


def outbound_message(**fields) -> OutboundMessage:
    """Return a message as the dispatcher hands it to an adapter: an SMS to `TO`, body "Hi" unless `fields` say."""
    fields.setdefault("id", OUTBOUND_ID)
    fields.setdefault("channel", Channel.SMS)
    fields.setdefault("to", TO)
    fields.setdefault("body", "Hi")
    return OutboundMessage(**fields)
