"""Purge runs, legal-hold history and data exports."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization


class PurgeRun(models.Model):
    """One run of the purge (or of the organization deletion job): what it deleted, or would have."""

    class Kind(models.TextChoices):
        PURGE = "purge", "Retention purge"
        ORGANIZATION_DELETION = "deletion", "Organization deletion"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PURGE)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    completed = models.BooleanField(default=False, help_text="Finished within the time budget (nothing left over).")
    # Null for a run over every organization.
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="purge_runs"
    )
    # The cut-off of the organizations on the default retention, and the
    # exceptions: {"<org id>": "2026-08-01T03:30:00+00:00" | "legal hold until 2027-01-01"}.
    cutoff = models.DateTimeField(null=True, blank=True)
    cutoffs = models.JSONField(default=dict, blank=True)
    deleted = models.JSONField(default=dict, blank=True, help_text="Rows deleted (or counted, dry run) per table.")
    rolled_up_days = models.PositiveIntegerField(default=0, help_text="Days of daily stats rolled up first.")
    duration_seconds = models.FloatField(null=True, blank=True)
    trigger = models.CharField(max_length=20, blank=True)  # beat, command, admin, test
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        what = "dry run" if self.dry_run else self.get_kind_display().lower()
        return f"{what} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def total_deleted(self) -> int:
        return sum(int(v) for v in (self.deleted or {}).values())


class LegalHold(models.Model):
    """History of legal holds set and lifted by staff. The hold in force is Organization.legal_hold_until."""

    class Change(models.TextChoices):
        SET = "set"
        LIFTED = "lifted"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="legal_holds")
    change = models.CharField(max_length=8, choices=Change.choices, default=Change.SET)
    until = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    by_label = models.CharField(max_length=254, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        if self.change == self.Change.SET:
            return f"hold on {self.organization} until {self.until}"
        return f"hold on {self.organization} lifted"


class ScheduledDeletion(Organization):
    """Organizations whose deletion an owner requested: the staff console's view of them."""

    class Meta:
        proxy = True
        verbose_name = "organization deletion"
        verbose_name_plural = "organization deletions"


def new_download_token() -> str:
    return secrets.token_urlsafe(32)


def export_upload_to(instance: DataExport, filename: str) -> str:
    return f"exports/{instance.organization_id}/{instance.public_id}.zip"


class DataExport(models.Model):
    """An organization's data as a zip of JSON files, downloadable once for a limited time."""

    class State(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        DOWNLOADED = "downloaded"
        EXPIRED = "expired"
        FAILED = "failed"

    class Format(models.TextChoices):
        JSON = "json", "JSON"
        CSV = "csv", "CSV"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="data_exports")
    # The files in the zip: JSON documents, or one CSV table per file.
    format = models.CharField(max_length=4, choices=Format.choices, default=Format.JSON)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    file = models.FileField(upload_to=export_upload_to, blank=True, max_length=300)
    size = models.PositiveBigIntegerField(default=0)
    # Part of the download link; a download needs it (and the owner's session or an admin key).
    token = models.CharField(max_length=64, default=new_download_token, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when a worker starts building: another worker leaves it alone until the claim lapses.
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "expires_at"], name="export_state_expires")]

    def __str__(self) -> str:
        return f"export of {self.organization} ({self.state})"

    @property
    def is_downloadable(self) -> bool:
        return self.state == self.State.READY and self.expires_at is not None and self.expires_at > timezone.now()
