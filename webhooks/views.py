"""Intake of provider callbacks: `/webhooks/<provider>/<account public id>/`.

Verify, store, answer fast; processing runs in a task after commit
(webhooks/services.py). A request that does not verify gets 403 and leaves
nothing but a log line. An unknown or stale message is still 200, so the
provider stops retrying; an error while storing is 500, so it retries.
"""

from __future__ import annotations

import copy
import time
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from jood.api import error_body
from providers.base import WebhookRequest, get_adapter
from providers.models import ProviderAccount
from webhooks.services import INTAKE_PROVIDERS, ingest

# Meta's payloads reach 3 MB; anything far bigger is not a provider's.
MAX_BODY_BYTES = 5 * 1024 * 1024


def public_url(request: HttpRequest) -> str:
    """Return the URL the provider called, as the provider signed it.

    From PUBLIC_BASE_URL by default. With WEBHOOKS_TRUST_FORWARDED_HEADERS,
    from X-Forwarded-Proto and X-Forwarded-Host (the proxy in front of us).
    """
    path = request.get_full_path()
    if settings.WEBHOOKS_TRUST_FORWARDED_HEADERS:
        proto = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        host = request.META.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip()
        scheme = proto if proto in ("http", "https") else request.scheme
        return f"{scheme}://{host or request.get_host()}{path}"
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    prefix = urlsplit(base).path
    if prefix and path.startswith(prefix + "/"):
        base = base[: -len(prefix)]  # the script prefix is in the path already
    return base + path


def to_webhook_request(request: HttpRequest, body: bytes) -> WebhookRequest:
    """Build the adapter's view of a Django request."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    query = dict(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True))
    form: dict[str, str] = {}
    if "application/x-www-form-urlencoded" in headers.get("content-type", "").lower():
        form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    return WebhookRequest(
        method=request.method or "POST", url=public_url(request), headers=headers, body=body, query=query, form=form
    )


# (provider, account public id) -> (expires at on time.monotonic(), account): a provider's
# callbacks come in bursts for the same few accounts. A save or delete of an account
# clears this process's cache at once; other processes see it within WEBHOOK_ACCOUNT_CACHE_SECONDS.
# A cached account is trusted with its current token only: a request that does not verify
# with it (a token rotated in another process, the previous token in its grace period) is
# verified again against the row as it is now (`_verified_ingest`).
_accounts: dict[tuple[str, str], tuple[float, ProviderAccount]] = {}


def _forget_accounts(**kwargs) -> None:
    _accounts.clear()


post_save.connect(_forget_accounts, sender=ProviderAccount, dispatch_uid="webhooks.account_cache.save")
post_delete.connect(_forget_accounts, sender=ProviderAccount, dispatch_uid="webhooks.account_cache.delete")


def _account(provider: str, account_id, *, fresh: bool = False) -> tuple[ProviderAccount | None, bool]:
    """The account and whether it came from the cache."""
    key = (provider, str(account_id))
    now = time.monotonic()
    hit = _accounts.get(key)
    if not fresh and hit is not None and hit[0] > now:
        return hit[1], True
    account = ProviderAccount.objects.filter(public_id=account_id, provider=provider).first()
    ttl = float(settings.WEBHOOK_ACCOUNT_CACHE_SECONDS)
    if account is not None and ttl > 0:
        if len(_accounts) >= 10_000:
            _accounts.clear()
        _accounts[key] = (now + ttl, account)
    elif account is None:
        _accounts.pop(key, None)
    return account, False


def _verified_ingest(provider: str, account: ProviderAccount, cached: bool, request: WebhookRequest):
    """`ingest`, trusting a cached account only with its current token (see `_accounts`)."""
    if not cached:
        return ingest(provider, account, request)
    current_only = copy.copy(account)
    current_only.previous_webhook_secret = ""
    event = ingest(provider, current_only, request, log_refusal=False)
    if event is not None:
        return event
    account, _ = _account(provider, account.public_id, fresh=True)
    return ingest(provider, account, request) if account is not None else None


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


@csrf_exempt
def intake(request: HttpRequest, provider: str, account_id) -> HttpResponse:
    """Receive one provider callback (POST), or Meta's verification handshake (GET)."""
    if provider not in INTAKE_PROVIDERS:
        return _error(404, "not_found", "No such webhook.")
    account, cached = _account(provider, account_id)
    if account is None:
        return _error(404, "not_found", "No such webhook.")
    adapter = get_adapter(provider)

    if request.method in ("GET", "HEAD"):
        answer = adapter.handshake(to_webhook_request(request, b""), account.to_config())
        if answer is None:
            return _error(405, "method_not_allowed", "Use POST.")
        status, text = answer
        if status != 200:
            return _error(status, "permission_denied", text)
        return HttpResponse(text, status=200, content_type="text/plain")
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Use POST.")

    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _error(413, "payload_too_large", "The body is too large.")
    # Read the stream ourselves: Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) is below Meta's maximum.
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "payload_too_large", "The body is too large.")

    event = _verified_ingest(provider, account, cached, to_webhook_request(request, body))
    if event is None:
        return _error(403, "permission_denied", "The signature or token did not verify.")
    text, content_type = get_adapter(provider).webhook_ack
    return HttpResponse(text, status=200, content_type=content_type)
