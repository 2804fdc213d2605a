"""Profile pages: customer search (with the top bar's typeahead), the 360 profile, its timeline."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from c360.profiles import logic
from c360.web.views import page


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@page
def search(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: find a person by name, e-mail, phone, identifier or person id.

    Only people and data of the sources the user may see are found.
    """
    q = request.GET.get("q", "").strip()
    hits = logic.search(request.user, q=q, limit=25) if q else []
    if q and len(hits) == 1:
        return HttpResponseRedirect(reverse("profile-detail", args=[hits[0].person_id]))
    context = {"q": q, "hits": hits, "too_short": 0 < len(q) < logic.MIN_SEARCH_LENGTH}
    return render(request, "profiles/search.html", context)


@page
def typeahead(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: the top bar's search suggestions (an htmx fragment)."""
    q = request.GET.get("q", "").strip()
    hits = logic.search(request.user, q=q) if len(q) >= logic.MIN_SEARCH_LENGTH else []
    return render(request, "profiles/_typeahead.html", {"q": q, "hits": hits})


@page
def lookup(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: open the profile an identifier (?id_type=email&value=...) belongs to."""
    person_id = logic.lookup(
        request.user,
        id_type=request.GET.get("id_type", "").strip(),
        value=request.GET.get("value", ""),
    )
    return HttpResponseRedirect(reverse("profile-detail", args=[person_id]))


@page
def detail(request: HttpRequest, person_id: str) -> HttpResponse:
    """Anyone logged in: a person's 360 profile, from the sources the user may see.

    404 when none of those sources has data on the person.
    """
    profile = logic.profile(request.user, person_id=person_id)
    return render(request, "profiles/detail.html", {"profile": profile, "who": profile.who})


@page
def timeline(request: HttpRequest, person_id: str) -> HttpResponse:
    """Anyone logged in: one page of a person's timeline (an htmx fragment), filtered."""
    page_number = _int_or_none(request.GET.get("page")) or 1
    timeline_page = logic.timeline(
        request.user,
        person_id=person_id,
        page=max(1, page_number),
        channel=request.GET.get("channel") or None,
        source=_int_or_none(request.GET.get("source")),
        activity=request.GET.get("activity") or None,
    )
    return render(request, "profiles/_timeline.html", {"timeline": timeline_page})
