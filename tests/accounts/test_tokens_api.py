"""API tokens: shown once, stored hashed, last use recorded, refused once revoked."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from c360.accounts.models import ApiToken
from c360.sources.models import DataSource
from factories import make_admin, make_source, make_staff


def _bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def admin(db: None) -> User:
    return make_admin("root")


@pytest.fixture
def source(admin: User) -> DataSource:
    return make_source(owner=admin, name="Shop")


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def _issue(client: Client, source: DataSource, **overrides: Any) -> dict[str, Any]:
    body = {"name": "shop feed", "source_ids": [source.pk], "permissions": ["import"]}
    response = client.post("/api/tokens", body | overrides, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def test_the_secret_is_shown_once(admin_client: Client, source: DataSource) -> None:
    issued = _issue(admin_client, source)
    secret = issued["secret"]
    assert secret.startswith("c360_")
    assert issued["source_ids"] == [source.pk]
    assert issued["permissions"] == ["import"]

    listed = admin_client.get("/api/tokens")
    revoked = admin_client.post(f"/api/tokens/{issued['id']}/revoke")

    assert listed.status_code == 200
    assert [token["id"] for token in listed.json()] == [issued["id"]]
    for response in (listed, revoked):
        assert secret.encode() not in response.content
        assert b'"secret"' not in response.content


def test_the_token_is_stored_hashed(admin_client: Client, source: DataSource) -> None:
    secret = _issue(admin_client, source)["secret"]

    row = ApiToken.objects.get()
    stored = [str(getattr(row, field.attname)) for field in ApiToken._meta.concrete_fields]

    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in value for value in stored)
    assert not any(secret.split("_")[-1] in value for value in stored)  # not even its random part


def test_a_token_answers_who_it_is_with_its_scope(admin_client: Client, source: DataSource) -> None:
    issued = _issue(admin_client, source, permissions=["import", "analyze"])

    response = Client().get("/api/me", **_bearer(issued["secret"]))

    assert response.status_code == 200
    me = response.json()
    assert me["kind"] == "token"
    assert me["user"] is None
    assert me["token"]["id"] == issued["id"]
    assert me["token"]["source_ids"] == [source.pk]
    assert me["token"]["permissions"] == ["analyze", "import"]
    assert issued["secret"].encode() not in response.content


def test_last_used_is_recorded(admin_client: Client, source: DataSource) -> None:
    issued = _issue(admin_client, source)
    assert issued["last_used_at"] is None
    assert ApiToken.objects.get().last_used_at is None

    before = datetime.now(UTC)
    assert Client().get("/api/sources", **_bearer(issued["secret"])).status_code == 200

    last_used = ApiToken.objects.get().last_used_at
    assert last_used is not None
    assert before - timedelta(seconds=1) <= last_used <= datetime.now(UTC)
    listed = admin_client.get("/api/tokens").json()
    assert listed[0]["last_used_at"] is not None


def test_a_revoked_token_is_refused(admin_client: Client, source: DataSource) -> None:
    issued = _issue(admin_client, source)
    caller = Client()
    assert caller.get("/api/me", **_bearer(issued["secret"])).status_code == 200

    revoked = admin_client.post(f"/api/tokens/{issued['id']}/revoke")

    assert revoked.status_code == 200
    assert revoked.json()["is_active"] is False
    assert revoked.json()["revoked_at"] is not None
    for path in ("/api/me", "/api/sources", f"/api/sources/{source.pk}"):
        refused = caller.get(path, **_bearer(issued["secret"]))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"


def test_revoking_twice_keeps_the_first_time(admin_client: Client, source: DataSource) -> None:
    issued = _issue(admin_client, source)
    first = admin_client.post(f"/api/tokens/{issued['id']}/revoke").json()["revoked_at"]

    second = admin_client.post(f"/api/tokens/{issued['id']}/revoke")

    assert second.status_code == 200
    assert second.json()["revoked_at"] == first


def test_an_unknown_token_is_not_found(admin_client: Client) -> None:
    response = admin_client.post("/api/tokens/999/revoke")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_or_malformed_secret_is_refused(db: None) -> None:
    for secret in ("c360_deadbeef_nope", "not-even-ours", ""):
        response = Client().get("/api/me", **_bearer(secret))
        assert response.status_code == 401, secret


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"permissions": ["delete"]}, "permissions"),
        ({"permissions": []}, "permissions"),
        ({"source_ids": [999]}, "source"),
        ({"source_ids": []}, "source_ids"),
    ],
)
def test_a_bad_token_request_is_refused_with_the_reason(
    admin_client: Client, source: DataSource, body: dict[str, Any], reason: str
) -> None:
    base = {"name": "feed", "source_ids": [source.pk], "permissions": ["import"]}

    response = admin_client.post("/api/tokens", base | body, content_type="application/json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] in {"invalid", "invalid_request"}
    assert reason in response.json()["error"]["message"]
    assert not ApiToken.objects.exists()


def test_staff_cannot_issue_tokens(source: DataSource) -> None:
    client = Client()
    client.force_login(make_staff())

    response = client.post(
        "/api/tokens",
        {"name": "mine", "source_ids": [source.pk], "permissions": ["import"]},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert not ApiToken.objects.exists()
