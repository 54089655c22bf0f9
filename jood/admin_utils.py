"""Shared pieces of the staff console (the Django admin): roles, content hiding, big-table paging, filters.

Roles (groups created by accounts/migrations/0002_staff_groups.py):

- "Support" sees every model of ours, but message content (bodies, template
  parameters, inbound texts, raw webhook bodies, callback payloads) shows as
  `HIDDEN`, and no destructive action is offered;
- "Operators" also see content and run the actions;
- superusers can do everything.

Content hiding works on field names: a ModelAdmin lists the real field (or
display method) and `content_fields()` swaps it for a method that renders
`HIDDEN` when the user may not see content, so the value never reaches the
HTML.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from jood import phones

OPERATORS = "Operators"
SUPPORT = "Support"
HIDDEN = "•••• hidden"

# Above this, list pages stop counting (a count of millions of rows is a full scan).
COUNT_CAP = 10_000


# --- the site ------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminPage:
    """A page of the console that is not a model's (the operations page), linked first on the index."""

    route: str  # under /admin/, e.g. "messaging/message/operations/"
    view: Callable  # view(request); the site requires a staff login
    name: str  # its URL name in the "admin" namespace
    title: str  # the index's caption
    link: str  # the index's row
    hint: str  # the row's tooltip
    permission: str  # the index lists it to staff with this permission ("messaging.view_message")


class AdminSite(admin.AdminSite):
    """Django's admin site, plus pages that apps above the base add with `add_page` (jood/admin_site.py)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pages: list[AdminPage] = []

    def add_page(self, page: AdminPage) -> None:
        self.pages = [*(p for p in self.pages if p.name != page.name), page]

    def get_urls(self):
        pages = [path(page.route, self.admin_view(page.view), name=page.name) for page in self.pages]
        return [*pages, *super().get_urls()]

    def index(self, request, extra_context=None):
        pages = [
            {"page": page, "url": reverse(f"{self.name}:{page.name}", current_app=self.name)}
            for page in self.pages
            if request.user.has_perm(page.permission)
        ]
        return super().index(request, {"admin_pages": pages, **(extra_context or {})})


# --- roles ---------------------------------------------------------------------------


def can_operate(user) -> bool:
    """True for superusers and members of the Operators group: they may run the console's actions.

    Cached on the user object: list pages ask once per row.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_jood_is_operator", None)
    if cached is None:
        cached = user.groups.filter(name=OPERATORS).exists()
        user._jood_is_operator = cached
    return cached


def can_see_content(user) -> bool:
    """True if the user may read message content (bodies, parameters, inbound texts): superusers and Operators."""
    return can_operate(user)


class OperateMixin:
    """Gives actions declared with `permissions=["operate"]` to Operators and superusers only."""

    def has_operate_permission(self, request) -> bool:
        return can_operate(request.user) and self.has_view_permission(request)


class ReadOnlyMixin:
    """A model staff look at but never edit in the console (rows change through services)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def hidden_display(description: str) -> Callable:
    """Return a display method that shows HIDDEN under the given column/label name."""

    @admin.display(description=description)
    def display(self, obj) -> str:
        return HIDDEN

    return display


def content_fields(request, names: Iterable[str], content: dict[str, str]) -> list[str]:
    """Return `names` with each content field swapped for its hidden twin when the user may not see content.

    `content` maps the name that shows the content to the name of the method
    that shows HIDDEN, e.g. {"body_text": "body_hidden"}.
    """
    if can_see_content(request.user):
        return list(names)
    return [content.get(name, name) for name in names]


class ContentMixin:
    """Shows the content fields named in `content` as HIDDEN to staff who may not see content.

    Set `content` as for `content_fields()`; list columns, `fields` and
    `fieldsets` all go through it.
    """

    content: dict[str, str] = {}

    def get_list_display(self, request):
        return content_fields(request, super().get_list_display(request), self.content)

    def get_fields(self, request, obj=None):
        return content_fields(request, super().get_fields(request, obj), self.content)

    def get_fieldsets(self, request, obj=None):
        return [
            (name, {**options, "fields": content_fields(request, options["fields"], self.content)})
            for name, options in super().get_fieldsets(request, obj)
        ]


class _ExactSearchMixin:
    """Searches a term `exact_value` recognizes exactly on `exact_field`; any other term as `search_fields` say."""

    exact_field: str

    def exact_value(self, search_term: str):  # pragma: no cover - overridden
        return None

    def get_search_results(self, request, queryset, search_term):
        value = self.exact_value(search_term)
        if value is not None:
            return queryset.filter(**{self.exact_field: value}), False
        return super().get_search_results(request, queryset, search_term)


class PublicIdSearchMixin(_ExactSearchMixin):
    """Searches a typed public id exactly; any other term as `search_fields` say."""

    exact_field = "public_id"

    def exact_value(self, search_term: str):
        return as_uuid(search_term)


class PhoneSearchMixin(_ExactSearchMixin):
    """Searches a typed phone number exactly on the model's `phone`; any other term as `search_fields` say."""

    exact_field = "phone"

    def exact_value(self, search_term: str):
        return phones.searched_number(search_term)


def log_changes(model_admin: admin.ModelAdmin, request, objects: Iterable, message: str) -> int:
    """Leave an admin LogEntry ("history") for each object an action changed; return how many."""
    count = 0
    for obj in objects:
        model_admin.log_change(request, obj, message)
        count += 1
    return count


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# --- big tables ------------------------------------------------------------------------


def estimated_rows(model, using: str = "default") -> int | None:
    """Return PostgreSQL's estimate of the table's rows (pg_class.reltuples), or None elsewhere / never analysed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    if not row or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class CappedCountPaginator(Paginator):
    """A paginator that never counts a big table in full.

    Unfiltered on PostgreSQL, the planner's estimate (`reltuples`) is used
    once it passes the cap; otherwise rows are counted up to COUNT_CAP
    (`SELECT COUNT(*) FROM (... LIMIT cap)`), so a page shows "10000" for
    anything larger. Pair with `show_full_result_count = False`.
    """

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where and not queryset.query.distinct:
            estimate = estimated_rows(queryset.model, queryset.db)
            if estimate is not None and estimate >= self.cap:
                return estimate
        return queryset.order_by()[: self.cap].count()


class BigTableMixin:
    """For tables of millions of rows: capped counts, no full count, no sort on unindexed columns."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100


class PageChangeList(ChangeList):
    """A ChangeList that lets its ModelAdmin add figures to the rows of the page in one query (`annotate_page`)."""

    def get_results(self, request) -> None:
        super().get_results(request)
        hook = getattr(self.model_admin, "annotate_page", None)
        if hook is not None:
            rows = list(self.result_list)  # evaluates and caches the page; the template reuses it
            if rows:
                hook(request, rows)


class PageAnnotationMixin:
    """Override `annotate_page(request, rows)` to set attributes on the page's rows."""

    def get_changelist(self, request, **kwargs):
        return PageChangeList

    def annotate_page(self, request, rows: list) -> None:  # pragma: no cover - extension point
        pass


# --- filters -------------------------------------------------------------------------------


def condition_filter(
    title: str, parameter: str, condition: Q | Callable[[], Q], yes: str = "Yes", no: str = "No"
) -> type[admin.SimpleListFilter]:
    """Return a yes/no filter: "yes" keeps the rows that meet `condition`, "no" the others.

    `condition` is a Q, or a function that returns one when the filter runs (for one that depends on the day).
    """

    class ConditionFilter(admin.SimpleListFilter):
        def lookups(self, request, model_admin):
            return [("yes", yes), ("no", no)]

        def queryset(self, request, queryset):
            if self.value() not in ("yes", "no"):
                return queryset
            q = condition() if callable(condition) else condition
            return queryset.filter(q) if self.value() == "yes" else queryset.exclude(q)

    ConditionFilter.title = title
    ConditionFilter.parameter_name = parameter
    return ConditionFilter


def has_error_filter(*fields: str) -> type[admin.SimpleListFilter]:
    """Return a "has error" yes/no filter over the given text fields (any of them non-empty)."""
    condition = Q()
    for name in fields:
        condition |= ~Q(**{name: ""})
    return condition_filter("has error", "has_error", condition)


def recent_filter(
    title: str, parameter: str, field: str, condition: Q, windows: dict[str, timedelta] | None = None
) -> type[admin.SimpleListFilter]:
    """Return a filter "<title>: last hour / last 24 hours" that applies `condition` and `field` >= now - window."""
    windows = windows or {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
    labels = {"1h": "In the last hour", "24h": "In the last 24 hours", "7d": "In the last 7 days"}

    class RecentFilter(admin.SimpleListFilter):
        def lookups(self, request, model_admin):
            return [(key, labels.get(key, key)) for key in windows]

        def queryset(self, request, queryset):
            window = windows.get(self.value() or "")
            if window is None:
                return queryset
            return queryset.filter(condition, **{f"{field}__gte": timezone.now() - window})

    RecentFilter.title = title
    RecentFilter.parameter_name = parameter
    return RecentFilter


def choices_filter(title: str, parameter: str, field: str, choices) -> type[admin.SimpleListFilter]:
    """A filter over a fixed list of choices: no `SELECT DISTINCT` over a big table to find them."""

    class ChoicesFilter(admin.SimpleListFilter):
        def lookups(self, request, model_admin):
            return list(choices)

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{field: self.value()})
            return queryset

    ChoicesFilter.title = title
    ChoicesFilter.parameter_name = parameter
    return ChoicesFilter


# --- rendering ---------------------------------------------------------------------------


def pretty_json(value) -> str:
    """Render a JSON value indented in a <pre>."""
    if value in (None, "", {}, []):
        return "-"
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str),
    )


def pretty_body(text: str, content_type: str = "") -> str:
    """Render a raw request body: JSON indented, form fields one per line, anything else as it is."""
    if not text:
        return "-"
    try:
        return pretty_json(json.loads(text))
    except ValueError:
        pass
    if "form-urlencoded" in content_type.lower() or ("=" in text and "\n" not in text and " " not in text):
        pairs = parse_qsl(text, keep_blank_values=True)
        if pairs:
            lines = "\n".join(f"{name} = {value}" for name, value in pairs)
            return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', lines)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


def short(text: str, length: int = 60) -> str:
    text = text or ""
    return text if len(text) <= length else text[: length - 1] + "…"


# --- exact search --------------------------------------------------------------------------


def as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except (ValueError, AttributeError):
        return None
