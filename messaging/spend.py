"""Spend: the price each provider reports, recorded per message, and estimates from the last known prices.

Providers price a message at different moments (issue 17 item 6): Unifonic in
the send answer, Infobip in the delivery report, Twilio only once the message
is sent, so `fetch_missing_prices` reads it from Twilio's Message resource
after the send (a callback that carries one is taken too).
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.db.models import Max, Q
from django.db.models.functions import Substr
from django.utils import timezone

from messaging.models import Message, Status
from providers.base import ProviderError, get_adapter, provider_names
from providers.models import ProviderAccount

log = logging.getLogger(__name__)

# Twilio prices a message shortly after it is sent; ask no earlier than this,
# again no sooner than PRICE_RETRY, and give up after PRICE_GIVE_UP.
PRICE_DELAY = timedelta(minutes=2)
PRICE_RETRY = timedelta(minutes=15)
PRICE_GIVE_UP = timedelta(days=3)
PRICE_FETCH_THREADS = 8
# Prices older than this are not used for estimates.
PRICE_ESTIMATE_DAYS = 90
PRICED_STATUSES = (Status.SENT, Status.DELIVERED, Status.READ, Status.UNDELIVERED, Status.FAILED)


def _amount(value) -> Decimal | None:
    try:
        amount = abs(Decimal(str(value)))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return amount if amount.is_finite() else None


def record_prices(prices: Iterable[tuple[int, str, str]]) -> int:
    """Store (message id, amount, currency) triples: one UPDATE per distinct price. Returns rows changed.

    The last report wins (a provider can correct a price); an empty amount is
    no price and leaves the message as it is.
    """
    by_price: dict[tuple[Decimal, str], list[int]] = defaultdict(list)
    for message_id, amount, currency in prices:
        value = _amount(amount) if amount not in (None, "") else None
        if value is None:
            continue
        by_price[(value, (currency or "").upper()[:3])].append(message_id)
    changed = 0
    for (value, currency), ids in by_price.items():
        changed += Message.objects.filter(pk__in=ids).update(price=value, price_currency=currency)
    return changed


def _fetching_providers() -> list[str]:
    return [name for name in provider_names() if get_adapter(name).fetches_prices]


def fetch_missing_prices(limit: int = 2000, now=None) -> dict[str, int]:
    """Ask providers that price after the send (Twilio) for prices not reported yet. Safe to run twice."""
    now = now or timezone.now()
    providers = _fetching_providers()
    if not providers:
        return {"priced": 0, "asked": 0}
    rows = list(
        Message.objects.filter(
            provider__in=providers,
            price__isnull=True,
            status__in=PRICED_STATUSES,
            sent_at__lte=now - PRICE_DELAY,
            sent_at__gte=now - PRICE_GIVE_UP,
            provider_account__isnull=False,
        )
        .exclude(provider_message_id="")
        .filter(Q(price_checked_at__isnull=True) | Q(price_checked_at__lte=now - PRICE_RETRY))
        .order_by("sent_at", "id")
        .values_list("pk", "provider_account_id", "provider_message_id")[:limit]
    )
    if not rows:
        return {"priced": 0, "asked": 0}
    # Claim them first: a second run at the same time skips what this one asks about.
    Message.objects.filter(pk__in=[r[0] for r in rows]).update(price_checked_at=now)
    accounts = {a.pk: a for a in ProviderAccount.objects.filter(pk__in={r[1] for r in rows})}
    configs = {pk: a.to_config() for pk, a in accounts.items()}

    def ask(row):
        pk, account_id, provider_message_id = row
        account = accounts.get(account_id)
        if account is None:
            return pk, None, None
        try:
            return pk, account.adapter.fetch_price(configs[account_id], provider_message_id), None
        except ProviderError as exc:
            return pk, None, exc

    found: list[tuple[int, str, str]] = []
    given_up: list[int] = []
    # One GET per message (Twilio has no batch read): a few at a time over the pooled sessions.
    with ThreadPoolExecutor(max_workers=PRICE_FETCH_THREADS) as pool:
        for pk, report, error in pool.map(ask, rows):
            if error is not None:
                log.info("price of message %s not read: %s", pk, error.message)
                if error.permanent:
                    given_up.append(pk)
            elif report is not None and report.price:
                found.append((pk, report.price, report.currency))
            elif report is not None and report.final:
                given_up.append(pk)
    if given_up:
        # Never priced: stop asking (a zero price is not a price, so the row stays null; the
        # check time is pushed past the give-up window).
        Message.objects.filter(pk__in=given_up).update(price_checked_at=now + PRICE_GIVE_UP)
    return {"priced": record_prices(found), "asked": len(rows)}


def spend_of(messages) -> list[dict]:
    """Return [{"currency", "amount", "priced"}] summed over a queryset of messages, one per currency."""
    from django.db.models import Count, Sum

    rows = (
        messages.filter(price__isnull=False)
        .values("price_currency")
        .annotate(amount=Sum("price"), priced=Count("id"))
        .order_by("price_currency")
    )
    return [
        {"currency": r["price_currency"], "amount": f"{r['amount'].normalize():f}", "priced": r["priced"]} for r in rows
    ]


# --- estimates ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2048)
def calling_code(number: str) -> str:
    """Return the country calling code that an E.164 number (or its first digits, "+966") starts with, or ""."""
    digits = number[1:] if number.startswith("+") else number
    for length in (1, 2, 3):
        code = digits[:length]
        if len(code) == length and code.isdigit() and phonenumbers.region_code_for_country_code(int(code)) != "ZZ":
            return code
    return ""


def country_label(code: str) -> str:
    """Return "+966 SA" for a calling code (the main region it serves), "unknown" for ""."""
    if not code:
        return "unknown"
    region = phonenumbers.region_code_for_country_code(int(code))
    return f"+{code} {region}" if region not in ("ZZ", "001") else f"+{code}"


@dataclass
class Estimate:
    """What a bulk send will cost, from the last price paid per provider account and country."""

    messages: int = 0
    segments: int = 0
    # currency -> amount, for the recipients whose country has a known price
    cost: dict[str, Decimal] = field(default_factory=dict)
    priced: int = 0  # recipients with a known price
    unpriced_countries: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.priced == self.messages


def last_prices(organization, channel: str, accounts: Sequence[ProviderAccount] | None = None) -> dict:
    """Return {(account id, calling code): (price per segment, currency)} from the newest priced messages.

    Prices are per segment, so a long text is estimated at its own length.
    Grouped by the first digits of the number in SQL (a calling code is at
    most three digits), so the query stays small however many recipients.
    """
    qs = Message.objects.filter(organization=organization, channel=channel, price__isnull=False, segments__gt=0)
    if accounts is not None:
        qs = qs.filter(provider_account__in=accounts)
    since = timezone.now() - timedelta(days=PRICE_ESTIMATE_DAYS)
    newest = (
        qs.filter(created_at__gte=since)
        .values("provider_account_id", prefix=Substr("to", 1, 4))
        .annotate(last=Max("id"))
        .order_by()
        .values_list("last", flat=True)
    )
    result: dict[tuple[int, str], tuple[Decimal, str, int]] = {}
    for account_id, to, price, currency, segments, pk in Message.objects.filter(pk__in=list(newest)).values_list(
        "provider_account_id", "to", "price", "price_currency", "segments", "pk"
    ):
        key = (account_id, calling_code(to))
        if key not in result or result[key][2] < pk:
            result[key] = (price / max(segments, 1), currency, pk)
    return {key: (value[0], value[1]) for key, value in result.items()}


def estimate(
    organization, channel: str, numbers: Sequence[str], segments: int | Sequence[int] = 1, account=None
) -> Estimate:
    """Estimate the segments and cost of sending to each of `numbers` (E.164).

    `segments` is the count for every message, or one count per number (a
    template's text differs per recipient). With no account chosen, the first
    active account of the channel by priority that has a price for the
    country is assumed (what routing picks).
    """
    counts = [max(segments, 1)] * len(numbers) if isinstance(segments, int) else [max(s, 1) for s in segments]
    accounts = (
        [account]
        if account is not None
        else list(
            ProviderAccount.objects.filter(organization=organization, channel=channel, is_active=True).order_by(
                "priority", "id"
            )
        )
    )
    prices = last_prices(organization, channel, accounts)
    result = Estimate(messages=len(numbers), segments=sum(counts))
    unpriced: set[str] = set()
    per_country: dict[str, int] = defaultdict(int)  # segments per calling code
    recipients: dict[str, int] = defaultdict(int)
    for number, count in zip(numbers, counts, strict=True):
        code = calling_code(number)
        per_country[code] += count
        recipients[code] += 1
    for code, count in per_country.items():
        price = next((prices[(a.pk, code)] for a in accounts if (a.pk, code) in prices), None)
        if price is None:
            unpriced.add(code or "?")
            continue
        amount, currency = price
        result.cost[currency] = result.cost.get(currency, Decimal(0)) + amount * count
        result.priced += recipients[code]
    result.cost = {c: v.quantize(Decimal("0.0001")) for c, v in result.cost.items()}
    result.unpriced_countries = sorted(unpriced)
    return result
