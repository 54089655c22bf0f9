"""`python manage.py legal_hold ORG --until DATE --reason TEXT [--by EMAIL]`, or `--lift`: staff only.

Customers never set or lift a hold (no API, no portal page); staff use this
command or the admin (Retention > Legal holds).
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import Actor
from retention import services
from retention.management.commands.purge_message_logs import find_organization


class Command(BaseCommand):
    help = "Set or lift a legal hold on an organization: while it holds, the purge deletes nothing of it."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="The organization's id or public id.")
        parser.add_argument("--until", help="Last day of the hold (YYYY-MM-DD).")
        parser.add_argument("--reason", default="", help="Why (a case or request reference).")
        parser.add_argument("--lift", action="store_true", help="Lift the hold instead.")
        parser.add_argument("--by", metavar="EMAIL", help="The staff member acting, for the access log.")

    def handle(self, *args, organization, until=None, reason="", lift=False, by=None, **options):
        org = find_organization(organization)
        actor = Actor()
        if by:
            user = User.objects.filter(email__iexact=by, is_staff=True).first()
            if user is None:
                raise CommandError(f"No staff user {by!r}.")
            actor = Actor(user=user)
        if lift:
            if services.lift_legal_hold(org, actor, reason=reason) is None:
                self.stdout.write(f"{org.name} had no legal hold.")
            else:
                self.stdout.write(self.style.SUCCESS(f"Lifted the legal hold on {org.name}."))
            return
        if not until:
            raise CommandError("Give --until YYYY-MM-DD (or --lift).")
        try:
            day = date.fromisoformat(until)
        except ValueError:
            raise CommandError(f"--until must be a date as YYYY-MM-DD, not {until!r}.")
        try:
            services.set_legal_hold(org, day, reason, actor)
        except services.PrivacyError as exc:
            raise CommandError(exc.message)
        self.stdout.write(self.style.SUCCESS(f"{org.name} is under a legal hold until {day}: nothing is purged."))
