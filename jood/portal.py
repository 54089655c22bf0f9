"""What every portal page shares: login, the current organization, roles, and a cheap paginator.

`portal_view(min_role=...)` wraps a view function: it requires a login,
resolves the organization the user works in (`request.session["organization_id"]`,
by default the user's first membership), sets `request.organization`,
`request.membership`, `request.memberships` (for the switcher) and
`request.can` (what the role allows, for templates), and answers 403 to a
role below `min_role`. A request that changes something (any method but
GET/HEAD/OPTIONS) also needs `write_role` (member by default): a viewer sees
every page and changes nothing. A person who withdrew their consent is treated
as a viewer everywhere (no sending, no changes) except in the views marked
`while_withdrawn=True` (their own export, consent, account deletion).

Memberships and roles are accounts' models, and the base imports no app: the
module named by `settings.PORTAL_ACCESS` (accounts/portal.py) finds the
membership and ranks the roles.

Objects are always looked up with `organization=request.organization`
(`get_for_org`), so another organization's object is a 404, never a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers

SESSION_KEY = "organization_id"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Can:
    """What the current role allows, for templates: `{% if request.can.send %}`."""

    send: bool = False  # member: send, cancel, opt-outs
    manage: bool = False  # admin: templates, provider accounts, API keys, callback endpoints, team
    own: bool = False  # owner: everything, owners of the team included


def access():
    """The module that knows memberships and roles (settings.PORTAL_ACCESS).

    It provides `current_membership(request)` (also sets `request.memberships`;
    None without one), `can(role) -> Can`, `higher(a, b)`, `label(role)`, and the
    role names `LOWEST` (what a person who withdrew consent gets) and `WRITER`.
    """
    return import_module(settings.PORTAL_ACCESS)


def portal_view(
    view: Callable | None = None,
    *,
    min_role: str | None = None,
    write_role: str | None = None,
    section: str = "",
    while_withdrawn: bool = False,
):
    """Decorate a portal view: login, organization, role (403 below it). See the module docstring.

    `min_role` defaults to the lowest role (viewer), `write_role` to the writer's (member).
    """

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(request, *args: Any, **kwargs: Any):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            roles = access()
            membership = roles.current_membership(request)
            if membership is None:
                return redirect("portal-no-organization")
            request.organization = membership.organization
            request.membership = membership
            withdrawn = getattr(request.user, "consent_withdrawn_at", None) is not None
            request.can = roles.can(roles.LOWEST if withdrawn else membership.role)
            request.section = section
            minimum = min_role or roles.LOWEST
            needed = minimum if request.method in SAFE_METHODS else roles.higher(minimum, write_role or roles.WRITER)
            try:
                if withdrawn and request.method not in SAFE_METHODS and not while_withdrawn:
                    raise PermissionDenied(
                        "You withdrew your consent to the privacy policy: your account is read-only until you "
                        "give it again on the Privacy & data page."
                    )
                if not membership.has_role(needed):
                    raise PermissionDenied(f"This needs the {roles.label(needed).lower()} role or higher.")
                response = func(request, *args, **kwargs)
            except PermissionDenied as exc:
                response = render(request, "jood/403.html", {"exception": str(exc)}, status=403)
            except Http404:
                response = render(request, "jood/404.html", status=404)
            # Pages of one organization's data (and once-shown secrets) are never cached.
            add_never_cache_headers(response)
            return response

        return wrapper

    if view is not None:
        return decorator(view)
    return decorator


def get_for_org(request, model, **lookup):
    """Return the organization's object or raise Http404 (another organization's object included)."""
    return get_object_or_404(model, organization=request.organization, **lookup)


class CheapPage:
    """One page of a queryset without a COUNT over the whole table: one row more tells if there is a next page."""

    MAX_PAGE = 100_000

    def __init__(self, queryset, number: Any, per_page: int = 50):
        try:
            # Capped: a huge ?page= would be an OFFSET the database refuses.
            self.number = min(max(1, int(number)), self.MAX_PAGE)
        except (TypeError, ValueError):
            self.number = 1
        self.per_page = per_page
        start = (self.number - 1) * per_page
        rows = list(queryset[start : start + per_page + 1])
        self.has_next = len(rows) > per_page
        self.object_list = rows[:per_page]
        self.has_previous = self.number > 1
        self.start_index = start + 1 if self.object_list else 0
        self.end_index = start + len(self.object_list)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def query_without_page(request) -> str:
    """The current query string without `page`, to build pagination links that keep the filters."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def one_time_secret(request, template: str, context: dict):
    """Render the page that shows a new secret once, in the answer to the form that created it.

    Never stored (not in the session, not in a cache) and never cached by the browser or a proxy: the
    secret exists only in this response. A reload asks to resubmit the form, which makes a new one.
    """
    response = render(request, template, context)
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    return response
