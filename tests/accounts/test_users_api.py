"""Who am I, and the accounts admins create through the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from factories import PASSWORD, make_admin, make_staff


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("make", "role"), [(make_admin, "admin"), (make_staff, "staff")])
def test_me_says_who_and_what_role(db: None, make: object, role: str) -> None:
    user = make("ann")  # type: ignore[operator]

    response = _logged_in(user).get("/api/me")

    assert response.status_code == 200
    me = response.json()
    assert me["kind"] == "user"
    assert me["token"] is None
    assert me["user"]["username"] == "ann"
    assert me["user"]["role"] == role


def test_me_refuses_anonymous_callers(db: None) -> None:
    response = Client().get("/api/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_admins_create_staff_who_can_then_log_in(db: None) -> None:
    admin = _logged_in(make_admin())

    response = admin.post(
        "/api/users",
        {"username": "sam", "password": PASSWORD, "email": "sam@example.com"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["role"] == "staff"
    assert response.json()["username"] == "sam"
    assert "password" not in response.json()
    assert Client().login(username="sam", password=PASSWORD)
    assert not User.objects.get(username="sam").is_superuser


def test_admins_create_admins(db: None) -> None:
    admin = _logged_in(make_admin())

    response = admin.post(
        "/api/users",
        {"username": "ada", "password": PASSWORD, "role": "admin"},
        content_type="application/json",
    )

    assert response.status_code == 201
    assert response.json()["role"] == "admin"
    assert User.objects.get(username="ada").is_superuser


def test_a_taken_user_name_is_refused(db: None) -> None:
    admin = _logged_in(make_admin())
    make_staff("sam")

    response = admin.post(
        "/api/users", {"username": "sam", "password": PASSWORD}, content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"
    assert "taken" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "sam", "password": "short"},
        {"username": "", "password": PASSWORD},
        {"username": "sam", "password": PASSWORD, "role": "owner"},
    ],
)
def test_a_bad_account_request_is_refused(db: None, body: dict[str, str]) -> None:
    admin = _logged_in(make_admin())

    response = admin.post("/api/users", body, content_type="application/json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert not User.objects.filter(username="sam").exists()


def test_admins_list_accounts_with_roles(db: None) -> None:
    admin = make_admin("root")
    make_staff("sam")

    response = _logged_in(admin).get("/api/users")

    assert response.status_code == 200
    assert [(u["username"], u["role"]) for u in response.json()] == [
        ("root", "admin"),
        ("sam", "staff"),
    ]
