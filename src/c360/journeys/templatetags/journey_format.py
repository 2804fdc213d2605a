"""Template filters of the journey pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def share(fraction: float | None) -> str:
    """0.1234 as 12.3%; below 0.1% as <0.1%."""
    if fraction is None:
        return "—"
    if 0 < fraction < 0.001:
        return "<0.1%"
    return f"{fraction * 100:.1f}%"
