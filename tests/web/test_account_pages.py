"""Users and API tokens pages: admins create accounts and tokens; the secret is shown once."""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.urls import reverse

from c360.accounts.logic import authenticate_token
from c360.accounts.models import ApiToken

from .conftest import World, client_for


def test_admin_creates_a_staff_account(world: World) -> None:
    client = client_for(world.admin)
    response = client.post(
        reverse("user-create"),
        {
            "username": "sam",
            "email": "sam@example.com",
            "password": "a-long-enough-password",
            "password_again": "a-long-enough-password",
            "role": "staff",
        },
        follow=True,
    )
    assert response.redirect_chain == [(reverse("user-list"), 302)]
    sam = User.objects.get(username="sam")
    assert not sam.is_superuser
    assert sam.check_password("a-long-enough-password")
    assert b"Created the staff account" in response.content
    assert b"sam@example.com" in response.content


def test_admin_creates_an_admin_account(world: World) -> None:
    client_for(world.admin).post(
        reverse("user-create"),
        {"username": "ada", "password": "x" * 12, "password_again": "x" * 12, "role": "admin"},
    )
    assert User.objects.get(username="ada").is_superuser


def test_user_form_reports_bad_input_and_creates_nothing(world: World) -> None:
    client = client_for(world.admin)
    response = client.post(
        reverse("user-create"),
        {"username": "vera", "password": "short", "password_again": "other", "role": "staff"},
    )
    assert response.status_code == 200
    assert b"is taken" in response.content
    assert b"The two passwords differ." in response.content
    assert User.objects.filter(username__iexact="vera").count() == 1


def test_staff_may_not_create_accounts(world: World) -> None:
    response = client_for(world.viewer).post(
        reverse("user-create"),
        {"username": "eve", "password": "x" * 12, "password_again": "x" * 12, "role": "admin"},
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="eve").exists()


def test_token_secret_is_shown_exactly_once(world: World) -> None:
    client = client_for(world.admin)
    response = client.post(
        reverse("token-create"),
        {"name": "nightly CRM", "sources": [world.public.pk], "permissions": ["import"]},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    token = ApiToken.objects.get(name="nightly CRM")
    found = re.findall(r"c360_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}", page)
    assert len(found) == 1
    secret = found[0]
    assert authenticate_token(secret) == token
    assert list(token.sources.all()) == [world.public]
    assert token.permissions == ["import"]
    listing = client.get(reverse("token-list")).content.decode()
    assert "nightly CRM" in listing
    assert secret not in listing


def test_token_form_needs_sources_and_permissions(world: World) -> None:
    response = client_for(world.admin).post(reverse("token-create"), {"name": "half"})
    assert response.status_code == 200
    assert b"Pick at least one data source." in response.content
    assert b"Pick at least one permission." in response.content
    assert not ApiToken.objects.exists()


def test_admin_revokes_a_token_and_staff_may_not(world: World) -> None:
    from c360.accounts.logic import create_token

    issued = create_token(
        name="crm", created_by=world.admin, source_ids=[world.public.pk], permissions=["import"]
    )
    url = reverse("token-revoke", args=[issued.token.pk])
    assert client_for(world.viewer).post(url).status_code == 403
    assert authenticate_token(issued.secret) is not None
    admin = client_for(world.admin)
    assert admin.get(url).status_code == 405  # revoking is a POST, behind a confirm
    response = admin.post(url, follow=True)
    assert b"Revoked the token" in response.content
    assert authenticate_token(issued.secret) is None
    assert b"revoked" in admin.get(reverse("token-list")).content


def test_empty_token_list_invites_to_create_one(world: World) -> None:
    page = client_for(world.admin).get(reverse("token-list")).content.decode()
    assert "No API tokens yet" in page
    assert reverse("token-create") in page
