"""The portal's analytics page and its CSV (issue 17 item 5): charts drawn on the server as SVG, no script."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone

from jood.portal import portal_view
from messaging import analytics, logs

MAX_DAYS = 366
BAR = 10  # viewBox units per day; the SVG stretches to the card's width
HEIGHT = 100


class RangeForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        for name in ("start", "end"):
            if data.get(name) and not logs.MIN_YEAR <= data[name].year <= logs.MAX_YEAR:
                raise forms.ValidationError(f"Use dates between the years {logs.MIN_YEAR} and {logs.MAX_YEAR}.")
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=29)
        if start > end:
            raise forms.ValidationError("The start date is after the end date.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data


def _range(request) -> tuple[RangeForm, object, object]:
    today = timezone.localdate()
    default = (today - timedelta(days=29), today)
    form = RangeForm(request.GET or None, initial={"start": default[0], "end": default[1]})
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["start"], form.cleaned_data["end"]
    return form, *default


def _nice_max(value: float) -> float:
    """Round a chart's top up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _stacked_bars(days: list[dict]) -> dict:
    """Geometry of the messages-per-day chart: delivered, failed and the rest, stacked."""
    top = _nice_max(max((d["total"] for d in days), default=0))
    bars = []
    for n, d in enumerate(days):
        other = d["total"] - d["delivered"] - d["failed"]
        y = HEIGHT
        parts = []
        for key, value in (("delivered", d["delivered"]), ("failed", d["failed"]), ("other", other)):
            h = HEIGHT * value / top
            y -= h
            if value:
                parts.append({"key": key, "y": round(y, 2), "h": round(h, 2), "value": value})
        bars.append({"x": n * BAR + 1, "w": BAR - 2, "parts": parts, "day": d["day"], "total": d["total"]})
    return {"bars": bars, "top": int(top), "width": max(len(days), 1) * BAR, "height": HEIGHT}


def _single_bars(days: list[dict], value) -> dict:
    values = [value(d) for d in days]
    top = _nice_max(float(max(values, default=0)))
    bars = []
    for n, (d, v) in enumerate(zip(days, values, strict=True)):
        h = round(HEIGHT * float(v) / top, 2)
        bars.append({"x": n * BAR + 1, "w": BAR - 2, "y": round(HEIGHT - h, 2), "h": h, "day": d["day"], "value": v})
    return {"bars": bars, "top": top, "width": max(len(days), 1) * BAR, "height": HEIGHT}


def _rate_lines(days: list[dict]) -> dict:
    """Polylines of the delivery and read rates (0 to 100 %); days without a rate break the line."""
    lines = {}
    for key in ("delivery_rate", "read_rate"):
        segments, current, dots = [], [], []
        for n, d in enumerate(days):
            rate = d[key]
            if rate is None:
                if current:
                    segments.append(current)
                current = []
                continue
            point = (n * BAR + BAR / 2, round(HEIGHT - rate, 2))
            current.append(point)
            dots.append({"x": point[0], "y": point[1], "day": d["day"], "rate": rate})
        if current:
            segments.append(current)
        lines[key] = {
            "polylines": [" ".join(f"{x},{y}" for x, y in seg) for seg in segments if len(seg) > 1],
            "dots": dots,
        }
    return {"lines": lines, "width": max(len(days), 1) * BAR, "height": HEIGHT}


def _main_currency(totals: dict) -> str:
    if not totals["spend"]:
        return ""
    return max(totals["spend"], key=lambda s: Decimal(s["amount"]))["currency"]


def _spend_in(day: dict, currency: str) -> Decimal:
    return next((Decimal(s["amount"]) for s in day["spend"] if s["currency"] == currency), Decimal(0))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@portal_view(section="analytics")
def analytics_page(request):
    form, start, end = _range(request)
    data = analytics.report(request.organization, start, end)
    days = data["days"]
    currency = _main_currency(data["totals"])
    for entries in data["breakdowns"].values():
        for e in entries:
            e["share"] = round(100.0 * e["total"] / data["totals"]["total"], 1) if data["totals"]["total"] else 0
            e["median"] = _duration(e["median_seconds_to_delivered"])
    for d in days:
        d["median"] = _duration(d["median_seconds_to_delivered"])
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    return render(
        request,
        "messaging/analytics.html",
        {
            "form": form,
            "start": start,
            "end": end,
            "data": data,
            "totals": data["totals"],
            "median": _duration(data["totals"]["median_seconds_to_delivered"]),
            "volume": _stacked_bars(days),
            "rates": _rate_lines(days),
            "segments": _single_bars(days, lambda d: d["segments"]),
            "currency": currency,
            "spend": _single_bars(days, lambda d: _spend_in(d, currency)) if currency else None,
            "breakdowns": [
                ("channel", "By channel", data["breakdowns"]["channel"]),
                ("country", "By country", data["breakdowns"]["country"]),
                ("provider_account", "By provider account", data["breakdowns"]["provider_account"]),
                ("error_code", "By error code", data["breakdowns"]["error_code"]),
            ],
            "csv_url": f"export.csv?{query}",
        },
    )


@portal_view(section="analytics")
def analytics_export(request):
    """The analytics numbers of the chosen range as CSV."""
    form, start, end = _range(request)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest("; ".join(form.non_field_errors()) or "The dates are not valid.")
    data = analytics.report(request.organization, start, end)
    return logs.csv_response(
        f"analytics-{start.isoformat()}-{end.isoformat()}.csv",
        logs.csv_rows(analytics.CSV_HEADER, analytics.report_csv_rows(data)),
    )
