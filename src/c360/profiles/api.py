"""Profiles API: search people, read a person's 360 profile and page through their timeline."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import TypeAdapter

from c360.accounts.auth import token_or_session
from c360.profiles import logic
from c360.profiles.schemas import PersonHitOut, ProfileOut, TimelinePageOut
from c360.sources.permissions import Actor
from c360.web.errors import ErrorOut

router = Router(tags=["profiles"], auth=token_or_session)

# A person the caller may not see is answered 404, like one that does not exist.
_READ = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _actor(request: HttpRequest) -> Actor:
    return request.auth  # type: ignore[attr-defined,no-any-return]


# A profile and a timeline page are dataclasses shaped exactly like ProfileOut and
# TimelinePageOut (tests/profiles prove the JSON is the same either way). Returned as dicts,
# they would be validated against the schema field by field in Python (django-ninja's getter
# for every nested object: milliseconds for a profile with a full timeline page); pydantic
# dumps the dataclasses in one call instead.
_PROFILE = TypeAdapter(logic.Profile)
_TIMELINE_PAGE = TypeAdapter(logic.TimelinePage)


def _respond(request: HttpRequest, fields: dict[str, Any]) -> HttpResponse:
    """The fields as the endpoint's JSON (200), rendered by the API's renderer."""
    from c360.web.api import api  # here: c360.web.api imports this module to mount the router

    return api.create_response(request, fields, status=200)


class SearchQuery(Schema):
    q: str


class LookupQuery(Schema):
    id_type: str
    value: str


class TimelineQuery(Schema):
    page: int = 1
    channel: str | None = None
    source: int | None = None
    activity: str | None = None


@router.get(
    "/profiles/search",
    response={200: list[PersonHitOut], **_READ},
    operation_id="search_profiles",
)
def search_profiles(request: HttpRequest, query: Query[SearchQuery]) -> list[dict[str, Any]]:
    """Who: anyone logged in, and API tokens with the analyze permission.

    A person is found only through the sources the caller may see. Matches names, e-mail
    addresses, phone numbers, any identifier (by prefix) and person ids.
    """
    return [asdict(hit) for hit in logic.search(_actor(request), q=query.q)]


@router.get(
    "/profiles/lookup",
    response={200: ProfileOut, **_READ},
    operation_id="lookup_profile",
)
def lookup_profile(request: HttpRequest, query: Query[LookupQuery]) -> HttpResponse:
    """Who: anyone logged in, and API tokens with the analyze permission.

    The profile of the person an identifier (id_type: email, phone, customer_id, ...) belongs
    to, with data of the sources the caller may see only.
    """
    actor = _actor(request)
    person_id = logic.lookup(actor, id_type=query.id_type, value=query.value)
    return _respond(request, _PROFILE.dump_python(logic.profile(actor, person_id=person_id)))


@router.get(
    "/profiles/{person_id}",
    response={200: ProfileOut, **_READ},
    operation_id="get_profile",
)
def get_profile(request: HttpRequest, person_id: str) -> HttpResponse:
    """Who: anyone logged in, and API tokens with the analyze permission.

    The person's 360 profile, from the sources the caller may see only; 404 when none of
    them has data on the person.
    """
    profile = logic.profile(_actor(request), person_id=person_id)
    return _respond(request, _PROFILE.dump_python(profile))


@router.get(
    "/profiles/{person_id}/timeline",
    response={200: TimelinePageOut, **_READ},
    operation_id="get_profile_timeline",
)
def get_profile_timeline(
    request: HttpRequest, person_id: str, query: Query[TimelineQuery]
) -> HttpResponse:
    """Who: anyone logged in, and API tokens with the analyze permission.

    One page of the person's events and orders, newest first, from the sources the caller may
    see; filter by channel, source (id) and activity.
    """
    page = logic.timeline(
        _actor(request),
        person_id=person_id,
        page=query.page,
        channel=query.channel,
        source=query.source,
        activity=query.activity,
    )
    return _respond(request, _TIMELINE_PAGE.dump_python(page))
