"""Template filters for the profile pages."""

from __future__ import annotations

from datetime import datetime

from django import template

register = template.Library()

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


@register.filter
def money(amount: float | None, currency: str | None = None) -> str:
    """1234.5 and EUR as €1,234.50; an em dash when unknown."""
    if amount is None:
        return "—"
    symbol = _SYMBOLS.get((currency or "").upper(), "")
    text = f"{amount:,.2f}"
    if symbol:
        return f"{symbol}{text}"
    return f"{text} {currency}" if currency else text


@register.filter
def number(value: float | None) -> str:
    """3.0 as 3 and 2.5 as 2.5; an em dash when unknown."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@register.filter
def moment(value: datetime | None) -> str:
    """12 Mar 2024, 14:05 (UTC); an em dash when unknown."""
    if value is None:
        return "—"
    return value.strftime("%-d %b %Y, %H:%M")


@register.filter
def initials(name: str) -> str:
    parts = [part for part in name.split() if part[:1].isalpha()]
    return "".join(part[0] for part in parts[:2]).upper() or "?"


@register.filter
def humanize(value: str | None) -> str:
    """email_opened as 'email opened'."""
    return (value or "").replace("_", " ")


@register.filter
def share(value: float, total: float) -> int:
    """value as a whole percentage of total, for bars."""
    if not total:
        return 0
    return max(2, min(100, round(100 * float(value) / float(total))))
