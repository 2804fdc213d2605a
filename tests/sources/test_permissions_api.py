"""Every API endpoint refuses whoever may not use it, in the one error shape, changing nothing.

The matrix covers: anonymous callers, a revoked token, staff without a grant, another staff
member's private source, a token of another source, and a token without the permission.
A second test shows the rightful caller of each endpoint is let through, so a refusal above
is about the actor and not about a broken request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from api_helpers import Api, World, assert_error, csv_upload
from django.contrib.auth.models import User

from c360.accounts.logic import create_token
from c360.accounts.models import ApiToken
from c360.sources.models import ColumnMapping, DataSource, Grant, ImportBatch
from c360.web.api import api as ninja_api

MAPPING_SPEC = {
    "fields": {
        "customer_id": {"column": "customer_id"},
        "event": {"column": "action_type"},
        "timestamp": {"column": "time"},
    },
    "properties": "rest",
}


@dataclass(frozen=True)
class Endpoint:
    operation_id: str
    method: str
    path: str  # {source}, {batch}, {user}, {token}, {shop} are filled in from the world
    json: Any = None
    multipart: bool = False


ENDPOINTS = [
    Endpoint("me", "GET", "/api/me"),
    Endpoint("list_users", "GET", "/api/users"),
    Endpoint(
        "create_user",
        "POST",
        "/api/users",
        json={"username": "newbie", "password": "long enough secret", "role": "staff"},
    ),
    Endpoint("list_tokens", "GET", "/api/tokens"),
    Endpoint(
        "create_token",
        "POST",
        "/api/tokens",
        json={"name": "new feed", "source_ids": ["{shop}"], "permissions": ["import"]},
    ),
    Endpoint("revoke_token", "POST", "/api/tokens/{token}/revoke"),
    Endpoint("list_sources", "GET", "/api/sources"),
    Endpoint("create_source", "POST", "/api/sources", json={"name": "Fresh", "kind": "events"}),
    Endpoint("get_source", "GET", "/api/sources/{source}"),
    Endpoint("update_source", "PATCH", "/api/sources/{source}", json={"description": "changed"}),
    Endpoint("list_grants", "GET", "/api/sources/{source}/grants"),
    Endpoint(
        "set_grant",
        "PUT",
        "/api/sources/{source}/grants/{user}",
        json={"can_import": True, "can_analyze": True},
    ),
    Endpoint("import_file", "POST", "/api/sources/{source}/imports", multipart=True),
    Endpoint("preview_file", "POST", "/api/sources/{source}/imports/preview", multipart=True),
    Endpoint("list_imports", "GET", "/api/sources/{source}/imports"),
    Endpoint(
        "post_events",
        "POST",
        "/api/sources/{source}/events",
        json=[{"customer_id": "c9", "action_type": "visit", "time": "2024-03-01T10:00:00Z"}],
    ),
    Endpoint("get_import", "GET", "/api/imports/{batch}"),
    Endpoint("rollback_import", "POST", "/api/imports/{batch}/rollback"),
    Endpoint("download_rejected_rows", "GET", "/api/imports/{batch}/rejected.csv"),
    Endpoint("list_mappings", "GET", "/api/mappings?kind=events"),
    Endpoint(
        "save_mapping",
        "POST",
        "/api/mappings",
        json={"name": "journeys", "kind": "events", "spec": MAPPING_SPEC},
    ),
    Endpoint(
        "suggest_mapping", "GET", "/api/mappings/suggest?kind=events&columns=customer_id,time"
    ),
]
BY_ID = {endpoint.operation_id: endpoint for endpoint in ENDPOINTS}

ADMIN_ONLY = ["list_users", "create_user", "list_tokens", "create_token", "revoke_token"]
ON_A_SOURCE = [
    "get_source",
    "update_source",
    "list_grants",
    "set_grant",
    "import_file",
    "preview_file",
    "list_imports",
    "post_events",
    "get_import",
    "rollback_import",
    "download_rejected_rows",
]
NEEDS_IMPORT = [
    "import_file",
    "preview_file",
    "post_events",
    "rollback_import",
    "download_rejected_rows",
]
NEEDS_MANAGE = ["update_source", "list_grants", "set_grant"]
USER_ONLY = ["create_source", "save_mapping"]  # tokens act on sources, never administer

UNAUTHENTICATED = (401, "unauthenticated")
FORBIDDEN = (403, "forbidden")
NOT_FOUND = (404, "not_found")

# scenario -> (actor, whose source the call is about, {operation_id: expected refusal})
SCENARIOS: dict[str, tuple[str, str, dict[str, tuple[int, str]]]] = {
    "anonymous": (
        "anonymous",
        "shop",
        {endpoint.operation_id: UNAUTHENTICATED for endpoint in ENDPOINTS},
    ),
    "revoked token": (
        "revoked_token",
        "shop",
        {endpoint.operation_id: UNAUTHENTICATED for endpoint in ENDPOINTS},
    ),
    "staff without the grant": (
        "bystander",
        "shop",
        {op: FORBIDDEN for op in ADMIN_ONLY + NEEDS_MANAGE + NEEDS_IMPORT},
    ),
    "another staff member's private source": (
        "bystander",
        "private",
        {op: NOT_FOUND for op in ON_A_SOURCE},
    ),
    "token of another source": (
        "crm_token",
        "shop",
        {
            **{op: UNAUTHENTICATED for op in ADMIN_ONLY},  # session only: a token is no login
            **{op: NOT_FOUND for op in ON_A_SOURCE},
            **{op: FORBIDDEN for op in USER_ONLY},
        },
    ),
    "token without the permission": (
        "analyze_token",
        "shop",
        {op: FORBIDDEN for op in NEEDS_IMPORT + NEEDS_MANAGE + USER_ONLY},
    ),
}

MATRIX = [
    pytest.param(scenario, operation_id, id=f"{operation_id}-{scenario}")
    for scenario, (_, _, refusals) in SCENARIOS.items()
    for operation_id in refusals
]


def _actor(world: World, name: str) -> User | str | None:
    if name == "analyze_token":
        issued = create_token(
            name="analysis only",
            created_by=world.admin,
            source_ids=[world.shop.pk],
            permissions=["analyze"],
        )
        return issued.secret
    return world.actor(name)


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str):
        for key, number in ids.items():
            if value == "{" + key + "}":
                return number
            value = value.replace("{" + key + "}", str(number))
        return value
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


def _request(api: Api, endpoint: Endpoint, world: World, on: str) -> Any:
    source = world.shop if on == "shop" else world.private
    batch = world.shop_batch if on == "shop" else world.private_batch
    ids = {
        "source": source.pk,
        "batch": batch.pk,
        "user": world.bystander.pk,
        "token": world.shop_token_row.pk,
        "shop": world.shop.pk,
    }
    path = _fill(endpoint.path, ids)
    if endpoint.multipart:
        return api.call(endpoint.method, path, data={"file": csv_upload(), "mode": "strict"})
    return api.call(endpoint.method, path, json=_fill(endpoint.json, ids))


def _state(world: World) -> dict[str, Any]:
    """Everything a refused call could have changed."""
    return {
        "users": sorted(User.objects.values_list("username", flat=True)),
        "sources": sorted(DataSource.objects.values_list("name", "visibility", "description")),
        "grants": sorted(Grant.objects.values_list("source_id", "user_id", "can_import")),
        "active tokens": sorted(
            ApiToken.objects.filter(revoked_at__isnull=True).values_list("name", flat=True)
        ),
        "batches": sorted(ImportBatch.objects.values_list("pk", "status")),
        "mappings": sorted(ColumnMapping.objects.values_list("kind", "name")),
    }


@pytest.mark.parametrize(("scenario", "operation_id"), MATRIX)
def test_refused(world: World, scenario: str, operation_id: str) -> None:
    actor_name, on, refusals = SCENARIOS[scenario]
    status, code = refusals[operation_id]
    api = Api(_actor(world, actor_name))
    before = _state(world)

    response = _request(api, BY_ID[operation_id], world, on)

    error = assert_error(response, status, code)
    assert _state(world) == before
    if on == "private":
        # A source the caller may not see is not revealed, not even by name.
        assert world.private.name not in error["message"]


def test_the_matrix_covers_every_endpoint() -> None:
    """Every accounts and sources operation is in the matrix (profiles have their own)."""
    schema = ninja_api.get_openapi_schema()
    operations = {
        operation["operationId"]
        for path in schema["paths"].values()
        for operation in path.values()
        if {"accounts", "sources"} & set(operation.get("tags", []))
    }
    assert operations == set(BY_ID)


ALLOWED = [
    ("me", "bystander", "shop", 200),
    ("list_users", "admin", "shop", 200),
    ("create_user", "admin", "shop", 201),
    ("list_tokens", "admin", "shop", 200),
    ("create_token", "admin", "shop", 201),
    ("revoke_token", "admin", "shop", 200),
    ("list_sources", "shop_token", "shop", 200),
    ("create_source", "bystander", "shop", 201),
    ("get_source", "bystander", "shop", 200),
    ("get_source", "owner", "private", 200),
    ("update_source", "owner", "private", 200),
    ("list_grants", "owner", "private", 200),
    ("set_grant", "admin", "shop", 200),
    ("preview_file", "shop_token", "shop", 200),
    ("import_file", "granted", "shop", 201),
    ("import_file", "shop_token", "shop", 201),
    ("list_imports", "shop_token", "shop", 200),
    ("post_events", "granted", "shop", 201),
    ("post_events", "shop_token", "shop", 201),
    ("get_import", "bystander", "shop", 200),
    ("rollback_import", "granted", "shop", 200),
    ("download_rejected_rows", "shop_token", "shop", 200),
    ("list_mappings", "shop_token", "shop", 200),
    ("save_mapping", "bystander", "shop", 201),
    ("suggest_mapping", "shop_token", "shop", 200),
]


@pytest.mark.usefixtures("warehouse")
@pytest.mark.parametrize(
    ("operation_id", "actor_name", "on", "status"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}") for row in ALLOWED],
)
def test_allowed(world: World, operation_id: str, actor_name: str, on: str, status: int) -> None:
    response = _request(Api(_actor(world, actor_name)), BY_ID[operation_id], world, on)
    assert response.status_code == status, response.content


def test_every_allowed_row_names_a_real_endpoint() -> None:
    assert {row[0] for row in ALLOWED} == set(BY_ID)
