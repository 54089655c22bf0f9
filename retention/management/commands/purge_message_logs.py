"""`python manage.py purge_message_logs [--dry-run] [--organization ID]`: run the retention purge by hand."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from retention import purge


def find_organization(value: str) -> Organization:
    """Return the organization with this primary key or public id, or raise CommandError."""
    value = (value or "").strip()
    lookup = None
    if value.isdigit():
        lookup = {"pk": int(value)}
    else:
        try:
            lookup = {"public_id": uuid.UUID(value)}
        except ValueError:
            pass
    organization = Organization.objects.filter(**lookup).first() if lookup else None
    if organization is None:
        raise CommandError(f"Unknown organization: {value!r} (give its id or its public id).")
    return organization


class Command(BaseCommand):
    help = (
        "Delete message logs older than each organization's retention (nothing under a legal hold), "
        "after rolling up their daily stats. Prints what it deleted per table, or would delete with --dry-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument("--organization", metavar="ID", help="Only this organization (id or public id).")
        parser.add_argument(
            "--budget", type=float, default=None, help="Seconds to spend (default PURGE_TIME_BUDGET_SECONDS)."
        )

    def handle(self, *args, dry_run=False, organization=None, budget=None, **options):
        org = find_organization(organization) if organization is not None else None
        if budget is not None and budget <= 0:
            raise CommandError("--budget must be a positive number of seconds.")
        run = purge.run(dry_run=dry_run, organization=org, budget=budget, trigger="command")
        verb = "would delete" if dry_run else "deleted"
        scope = f"organization {org.pk} ({org.name})" if org else "every organization"
        self.stdout.write(f"Purge {'dry run ' if dry_run else ''}over {scope}, PurgeRun {run.pk}.")
        for key, described in sorted(run.cutoffs.items()):
            who = "default retention" if key == "default" else f"organization {key}"
            self.stdout.write(f"  cut-off for {who}: {described}")
        width = max(len(label) for label in run.deleted) if run.deleted else 0
        for label in purge.PURGED_TABLES + sorted(set(run.deleted) - set(purge.PURGED_TABLES)):
            if label in run.deleted:
                self.stdout.write(f"  {label:<{width}}  {verb} {run.deleted[label]}")
        days = "would roll up" if dry_run else "rolled up"
        self.stdout.write(f"  daily stats {days} for {run.rolled_up_days} day(s) first")
        if run.completed:
            self.stdout.write(self.style.SUCCESS(f"Done in {run.duration_seconds:.1f} s: {run.total_deleted} rows."))
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Stopped at the time budget after {run.duration_seconds:.1f} s; the next run resumes."
                )
            )
