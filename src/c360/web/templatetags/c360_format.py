"""Template filters for figures shown on the pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """3.2 s, 4 min 05 s, 1 h 02 min; an em dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def percent(fraction: float | None) -> int:
    """A 0..1 fraction as a whole percentage, clamped, for progress bars."""
    if not fraction:
        return 0
    return max(0, min(100, round(fraction * 100)))


@register.filter
def thousands(number: int | None) -> str:
    """1234567 as 1,234,567."""
    if number is None:
        return "—"
    return f"{number:,}"


@register.filter
def ago(moment: datetime | None) -> str:
    """'just now', '5 minutes ago', '3 days ago'."""
    if moment is None:
        return "—"
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, depth=1)} ago"
