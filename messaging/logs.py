"""Message logs: the one filter definition of the portal's message list, the API's list and both CSV exports.

`MessageLogFilter` is a form (so the portal renders it and both sides get the
same validation and messages); `filter_messages` applies it to the
organization's messages. Bad input is a form error, which the API answers
with 400 and the error shape. `csv_response` streams any number of rows.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import QueryDict, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jood.phones import InvalidNumber, any_form, restore_plus
from messaging.models import Message, Status
from providers.models import Channel, ProviderAccount

SEARCH_MAX = 200
# Dates outside these years are mistakes (and year 1 or 9999 overflow a day's bounds).
MIN_YEAR, MAX_YEAR = 1970, 2999
# Rows fetched per query while exporting: a server-side cursor on PostgreSQL, chunks elsewhere.
EXPORT_CHUNK = 2000
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def region_of(organization) -> str:
    """The region of a number given without its country code (050…): the organization's, else the setting's."""
    return (getattr(organization, "country", "") or settings.PHONE_DEFAULT_REGION or "").upper() or None


def _no_nul(value: str, name: str) -> str:
    if "\x00" in value:
        raise forms.ValidationError(f"{name} contains a NUL character.", code="invalid")
    return value


class MultipleValuesField(forms.Field):
    """Values given repeated (?status=a&status=b) or comma-separated (?status=a,b), each one of `choices`."""

    widget = forms.TextInput

    def __init__(self, *, choices, **kwargs):
        self.valid = dict(choices)
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        items = value if isinstance(value, list | tuple) else [value or ""]
        result: list[str] = []
        for item in items:
            for part in str(item).split(","):
                part = _no_nul(part.strip(), self.label or "value")
                if part and part not in result:
                    result.append(part)
        return result

    def validate(self, value) -> None:
        super().validate(value)
        unknown = [v for v in value if v not in self.valid]
        if unknown:
            raise forms.ValidationError(
                "Unknown value %(values)s; one of %(choices)s.",
                code="invalid_choice",
                params={"values": ", ".join(unknown), "choices": ", ".join(self.valid)},
            )


class MultipleValuesWidget(forms.SelectMultiple):
    def value_from_datadict(self, data, files, name):
        if isinstance(data, QueryDict):
            return data.getlist(name)
        return data.get(name)


class MessageLogFilter(forms.Form):
    """What the message list can be filtered by: the same names in the portal and in the API."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=SEARCH_MAX,
        help_text="A number (+966…, 00966… or 05…), a message id, or words of the text.",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Number, id or text"}),
    )
    to = forms.CharField(
        label="Number", required=False, max_length=40, widget=forms.TextInput(attrs={"inputmode": "tel"})
    )
    status = MultipleValuesField(
        label="Status", required=False, choices=Status.choices, widget=MultipleValuesWidget(choices=Status.choices)
    )
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)
    provider_account = forms.CharField(label="Provider account", required=False, widget=forms.Select)
    # A batch id; one of another organization (or gone) matches nothing, as any id does.
    batch = forms.UUIDField(required=False, widget=forms.HiddenInput)
    error_code = forms.CharField(label="Error code", required=False, max_length=64)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # The API's ISO 8601 instants (with an offset; naive means the site's time zone).
    created_after = forms.CharField(required=False, widget=forms.HiddenInput)
    created_before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *, organization, **kwargs):
        if data is not None and data.get("phone") and not data.get("q"):
            # The list's earlier `phone` box (and links made with it): the search box now.
            data = data.copy()
            data["q"] = data["phone"]
        super().__init__(data, **kwargs)
        self.organization = organization
        accounts = ProviderAccount.objects.filter(organization=organization).order_by("priority", "label")
        self.fields["provider_account"].widget.choices = [("", "Any account")] + [
            (str(a.public_id), f"{a.label} ({a.get_provider_display()})")
            for a in accounts.only("public_id", "label", "provider")
        ]

    def full_clean(self):
        # NUL bytes in any parameter are refused before any field sees them (PostgreSQL rejects them in text).
        if self.data:
            for name in self.data:
                values = self.data.getlist(name) if isinstance(self.data, QueryDict) else [self.data.get(name)]
                if any("\x00" in str(v or "") for v in values) or "\x00" in name:
                    self._errors = forms.utils.ErrorDict()
                    self.cleaned_data = {}
                    self.add_error(None, forms.ValidationError(f"{name} contains a NUL character.", code="invalid"))
                    return
        super().full_clean()

    def clean_to(self) -> str:
        value = self.cleaned_data.get("to", "").strip()
        if not value:
            return ""
        value = restore_plus(value, self.data.get("to", ""))
        try:
            return any_form(value, region_of(self.organization))
        except InvalidNumber as exc:
            raise forms.ValidationError(str(exc), code="invalid_number") from None

    def clean_provider_account(self):
        value = (self.cleaned_data.get("provider_account") or "").strip()
        if not value:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            raise forms.ValidationError("Enter a provider account id (a UUID).", code="invalid") from None

    def clean_q(self) -> str:
        return self.cleaned_data.get("q", "").strip()

    def clean_error_code(self) -> str:
        return self.cleaned_data.get("error_code", "").strip()

    def _instant(self, name: str):
        value = (self.cleaned_data.get(name) or "").strip()
        if not value:
            return None
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError("Use an ISO 8601 date-time, e.g. 2026-11-24T09:00:00+03:00.", code="invalid")
        try:
            aware = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
            # As UTC: PostgreSQL refuses offsets past ±15:59 that Python parses (+23:59).
            return aware.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(f"Use a date between the years {MIN_YEAR} and {MAX_YEAR}.") from None

    def clean_created_after(self):
        return self._instant("created_after")

    def clean_created_before(self):
        return self._instant("created_before")

    def clean(self):
        data = super().clean()
        for name in ("start", "end", "created_after", "created_before"):
            value = data.get(name)
            if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
                self.add_error(name, f"Use a date between the years {MIN_YEAR} and {MAX_YEAR}.")
                data.pop(name, None)
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", "The end date is before the start date.")
        return data

    def errors_as_details(self) -> dict:
        return {name: [str(e) for e in errors] for name, errors in self.errors.items()}


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, dtime.min), timezone.get_current_timezone())


def search_condition(text: str, region: str | None) -> Q:
    """What a search box finds: a message id, a provider's message id, a number in any form, or text."""
    try:
        public_id = uuid.UUID(text)
    except ValueError:
        public_id = None
    if public_id is not None:
        return Q(public_id=public_id)
    condition = Q(provider_message_id=text) | Q(body__icontains=text)
    phone_like = text and all(ch.isdigit() or ch in "+ -()." for ch in text)
    if phone_like:
        try:
            condition |= Q(to=any_form(text, region))  # the index on (organization, to)
        except InvalidNumber:
            # A part of a number: its digits without the trunk 0 or the international 00.
            digits = "".join(ch for ch in text if ch.isdigit())
            digits = digits[2:] if digits.startswith("00") else digits.lstrip("0")
            if len(digits) >= 3:
                condition |= Q(to__contains=digits)
    return condition


# The filter's fields that are one lookup each. Ids match within the organization:
# another organization's provider account or batch matches nothing.
LOOKUPS = {
    "status": "status__in",
    "channel": "channel",
    "provider_account": "provider_account__public_id",
    "batch": "batch__public_id",
    "error_code": "error_code",
    "to": "to",
    "created_after": "created_at__gte",
    "created_before": "created_at__lt",
}


def filter_messages(organization, form: MessageLogFilter) -> QuerySet[Message]:
    """Return the organization's messages that match a valid filter form, newest first."""
    data = form.cleaned_data
    given = {lookup: data[name] for name, lookup in LOOKUPS.items() if data.get(name)}
    qs = Message.objects.filter(organization=organization, **given)
    if data.get("start"):
        qs = qs.filter(created_at__gte=_day_start(data["start"]))
    if data.get("end"):
        qs = qs.filter(created_at__lt=_day_start(data["end"] + timedelta(days=1)))
    if data.get("q"):
        qs = qs.filter(search_condition(data["q"], region_of(organization)))
    return qs.order_by("-created_at", "-id")


# --- CSV ------------------------------------------------------------------------------------------
def safe_cell(value) -> str:
    """Return the value as text a spreadsheet shows as text: a leading = + - @ tab or CR gets a '."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else value.isoformat() if hasattr(value, "isoformat") else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


# Rows written per piece of the streamed body: one piece per row costs a write per row.
ROWS_PER_PIECE = 500


def csv_rows(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """Yield the CSV text (header first) in pieces of ROWS_PER_PIECE rows, every cell neutralised by `safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a BOM, so spreadsheets read UTF-8 (Arabic text)
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        pending += 1
        if pending >= ROWS_PER_PIECE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def csv_response(filename: str, lines: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


EXPORT_COLUMNS = [
    "id",
    "created_at",
    "channel",
    "to",
    "sender",
    "status",
    "error_code",
    "error_message",
    "body",
    "template",
    "provider",
    "provider_account",
    "provider_message_id",
    "segments",
    "price",
    "price_currency",
    "batch",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
]
_PRICE = EXPORT_COLUMNS.index("price")
# The columns not read from the field of their own name.
EXPORT_SOURCES = {
    "id": "public_id",
    "template": "template__name",
    "provider_account": "provider_account__public_id",
    "batch": "batch__public_id",
}


def export_rows(qs: QuerySet[Message]) -> Iterator[list]:
    """Yield one row per message; the query runs in chunks (a server-side cursor on PostgreSQL)."""
    rows = qs.values_list(*(EXPORT_SOURCES.get(column, column) for column in EXPORT_COLUMNS))
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        row = list(row)
        if row[_PRICE] is not None:
            row[_PRICE] = f"{row[_PRICE].normalize():f}"
        yield row


def export_response(qs: QuerySet[Message]) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return csv_response(f"messages-{stamp}.csv", csv_rows(EXPORT_COLUMNS, export_rows(qs)))
