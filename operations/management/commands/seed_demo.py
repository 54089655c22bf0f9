"""Create the demo organization, its owner and an API key; safe to run again.

`make run` calls it on every start. Each step is a method that finds or
creates one thing and says what it did; secrets are printed once, when they
are created, and never again. To seed more (a sandbox provider account, ...),
add a `seed_<thing>(organization)` method and call it from `handle`.
It lives in `operations`, the app on top, because it seeds every app.
"""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.models import ApiKey, Membership, Organization, Role, User
from messaging.services import add_sandbox_hello_world
from providers.models import ProviderAccount
from providers.services import connect_account

DEMO_ORGANIZATION = "Demo Org"
DEMO_EMAIL = "demo@example.com"
DEMO_KEY_NAME = "Demo key"


class Command(BaseCommand):
    help = "Create the demo organization, owner user and API key (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--new-key", action="store_true", help="Create another demo API key and print it.")

    @transaction.atomic
    def handle(self, *args, new_key: bool = False, **options) -> None:
        owner = self.seed_owner()
        organization = self.seed_organization(owner)
        self.seed_api_key(organization, new=new_key)
        self.seed_sandbox_account(organization)

    def seed_sandbox_account(self, organization: Organization):
        for channel in ("sms", "whatsapp"):
            existing = ProviderAccount.objects.filter(
                organization=organization, provider="sandbox", channel=channel
            ).first()
            if existing is not None:
                if channel == "whatsapp":
                    self.seed_hello_world(existing)
                continue
            account = connect_account(
                organization,
                provider="sandbox",
                channel=channel,
                label=f"Sandbox {channel.upper() if channel == 'sms' else 'WhatsApp'}",
                credentials={},
                default_sender="JoodDemo",
            )
            self.stdout.write(
                self.style.SUCCESS(f"Connected a sandbox {channel} provider account (nothing leaves this machine).")
            )
            if channel == "whatsapp":
                self.seed_hello_world(account)

    def seed_hello_world(self, account) -> None:
        """The approved `hello_world` template a new WhatsApp test number comes with."""
        _, created = add_sandbox_hello_world(account)
        if created:
            self.stdout.write(self.style.SUCCESS("Added the approved WhatsApp template hello_world (en_US)."))

    def seed_owner(self) -> User:
        user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
        if user is not None:
            self.stdout.write(
                f"User {DEMO_EMAIL} exists. To set a new password: python manage.py changepassword {DEMO_EMAIL}"
            )
            return user
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(DEMO_EMAIL, password=password, name="Demo Owner")
        self.stdout.write(self.style.SUCCESS(f"Created user {DEMO_EMAIL} with password: {password}"))
        self.stdout.write("  (shown once; change it with: python manage.py changepassword " + DEMO_EMAIL + ")")
        return user

    def seed_organization(self, owner: User) -> Organization:
        organization = Organization.objects.filter(name=DEMO_ORGANIZATION).order_by("pk").first()
        if organization is None:
            organization = services.create_organization(owner, DEMO_ORGANIZATION)
            self.stdout.write(self.style.SUCCESS(f"Created organization {DEMO_ORGANIZATION!r} owned by {owner.email}"))
            return organization
        Membership.objects.get_or_create(user=owner, organization=organization, defaults={"role": Role.OWNER})
        self.stdout.write(f"Organization {DEMO_ORGANIZATION!r} exists.")
        return organization

    def seed_api_key(self, organization: Organization, new: bool = False) -> ApiKey:
        key = organization.api_keys.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True).first()
        if key is not None and not new:
            self.stdout.write(
                f"API key {DEMO_KEY_NAME!r} exists ({key.prefix}…); its secret was shown when created. "
                "For another: python manage.py seed_demo --new-key"
            )
            return key
        key, secret = services.create_api_key(organization, DEMO_KEY_NAME, role=Role.ADMIN)
        self.stdout.write(self.style.SUCCESS(f"Created API key {DEMO_KEY_NAME!r} (admin role): {secret}"))
        self.stdout.write("  (shown once; use it as: Authorization: Token <key>)")
        return key
