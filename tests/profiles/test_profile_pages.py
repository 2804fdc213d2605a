"""The customer pages: search with typeahead, the profile, its timeline; who may open them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from profiles.conftest import Shop
from profiles.shop import ANNA, HOUSEHOLD


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _page(user: User, url: str, status: int = 200) -> str:
    response = _client(user).get(url)
    assert response.status_code == status, response.content[:500]
    return response.content.decode()


def test_the_profile_page_shows_every_part(shop: Shop) -> None:
    html = _page(shop.admin, reverse("profile-detail", args=[ANNA]))

    assert "Anna de Vries" in html
    for part in ("who", "latest", "errors", "purchases", "favourites", "timeline", "identifiers"):
        assert f'data-section="{part}"' in html
    assert "Payment failed" in html and "/checkout" in html
    assert "Linen shirt" in html and "Nordic" in html
    assert "€300.00" in html  # spent in total
    assert "agent Kim" in html  # the call, seen by an admin
    assert "Why these are one person" in html
    assert 'name="q"' in html  # the search box is in the top bar


def test_staff_without_the_calls_source_see_no_calls_on_the_page(shop: Shop) -> None:
    html = _page(shop.viewer, reverse("profile-detail", args=[ANNA]))
    assert "Anna de Vries" in html
    assert "agent Kim" not in html and "Support calls" not in html
    _page(shop.viewer, reverse("profile-detail", args=[HOUSEHOLD]), status=404)
    assert "agent Kim" in _page(shop.agent, reverse("profile-detail", args=[ANNA]))


def test_missing_data_shows_empty_states(shop: Shop) -> None:
    html = _page(shop.admin, reverse("profile-detail", args=[HOUSEHOLD]))
    assert "No purchases in the sources you can see." in html
    assert "No errors seen for this person." in html
    assert "No products bought yet." in html


def test_typeahead_lists_matching_people(shop: Shop) -> None:
    html = _page(shop.viewer, reverse("profile-typeahead") + "?q=anna")
    assert reverse("profile-detail", args=[ANNA]) in html
    assert "Utrecht" in html and "3 orders" in html
    assert "No customer matches" in _page(shop.viewer, reverse("profile-typeahead") + "?q=zzz")
    assert _page(shop.viewer, reverse("profile-typeahead") + "?q=a").strip() == ""


def test_search_page_opens_the_one_match_and_lists_several(shop: Shop) -> None:
    response = _client(shop.viewer).get(reverse("profile-search") + "?q=anna")
    assert response.status_code == 302
    assert response["Location"] == reverse("profile-detail", args=[ANNA])
    html = _page(shop.viewer, reverse("profile-search") + "?q=example.nl")
    assert "Anna de Vries" in html
    assert "No customer found" in _page(shop.viewer, reverse("profile-search") + "?q=zzz")


def test_lookup_opens_the_profile_of_an_identifier(shop: Shop) -> None:
    url = reverse("profile-lookup") + "?id_type=email&value=ANNA@example.nl"
    response = _client(shop.viewer).get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("profile-detail", args=[ANNA])


def test_the_timeline_fragment_filters(shop: Shop) -> None:
    url = reverse("profile-timeline", args=[ANNA])
    html = _page(shop.admin, url + "?channel=email")
    assert "Email opened" in html and "Linen" not in html
    assert 'data-total="3"' in html
    assert "Nothing matches these filters." in _page(shop.admin, url + "?activity=nothing")


PAGES = [
    ("profile-search", []),
    ("profile-typeahead", []),
    ("profile-lookup", []),
    ("profile-detail", [ANNA]),
    ("profile-timeline", [ANNA]),
]


@pytest.mark.parametrize(("name", "args"), PAGES, ids=[name for name, _ in PAGES])
def test_anonymous_visitors_are_sent_to_log_in(shop: Shop, name: str, args: list[str]) -> None:
    target = reverse(name, args=args)
    response = Client().get(target)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={target}"
