"""Every page renders for the people it is for and refuses everyone else.

Refusals: anonymous visitors go to the log-in page; staff get the friendly 403 page for
admin pages and for actions they hold no right for, and a 404 for sources (and their
imports) they may not see, so a page never reveals that such a source exists.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import reverse

from .conftest import World, client_for

Url = Callable[[World], str]

# (name, url, who may open it: "anyone" logged in, "admin", or a World attribute list)
PAGES: list[tuple[str, Url]] = [
    ("home", lambda w: reverse("home")),
    ("source list", lambda w: reverse("source-list")),
    ("source create", lambda w: reverse("source-create")),
    ("mapping list", lambda w: reverse("mapping-list")),
    ("mapping detail", lambda w: reverse("mapping-detail", args=[w.mapping.pk])),
    ("public source", lambda w: reverse("source-detail", args=[w.public.pk])),
    ("public batch", lambda w: reverse("batch-detail", args=[w.batch.pk])),
    ("public batch progress", lambda w: reverse("batch-progress", args=[w.batch.pk])),
    ("private source", lambda w: reverse("source-detail", args=[w.private.pk])),
    ("private batch", lambda w: reverse("batch-detail", args=[w.private_batch.pk])),
    ("user list", lambda w: reverse("user-list")),
    ("user create", lambda w: reverse("user-create")),
    ("token list", lambda w: reverse("token-list")),
    ("token create", lambda w: reverse("token-create")),
    ("rejected rows", lambda w: reverse("batch-rejected", args=[w.batch.pk])),
]
ADMIN_ONLY = {"user list", "user create", "token list", "token create"}


@pytest.mark.parametrize(("page", "url"), PAGES, ids=[name for name, _ in PAGES])
def test_every_page_renders_for_an_admin(world: World, page: str, url: Url) -> None:
    response = client_for(world.admin).get(url(world))
    response.close()  # the rejected-rows download streams an open file
    assert response.status_code == 200, page


@pytest.mark.parametrize(("page", "url"), PAGES, ids=[name for name, _ in PAGES])
def test_anonymous_visitors_are_sent_to_log_in(world: World, page: str, url: Url) -> None:
    target = url(world)
    response = client_for(None).get(target)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={target}"


@pytest.mark.parametrize(("page", "url"), PAGES, ids=[name for name, _ in PAGES])
def test_staff_without_rights_are_refused(world: World, page: str, url: Url) -> None:
    """`viewer` holds no grant: it sees public sources only, and may import nowhere."""
    response = client_for(world.viewer).get(url(world))
    response.close()
    if page in ADMIN_ONLY or page == "rejected rows":
        assert response.status_code == 403
        assert b"You may not do this" in response.content
    elif page.startswith("private"):
        assert response.status_code == 404
        assert b"Olivia" not in response.content
    else:
        assert response.status_code == 200


def test_owner_and_importer_see_their_pages(world: World) -> None:
    owner = client_for(world.owner)
    assert owner.get(reverse("source-detail", args=[world.private.pk])).status_code == 200
    assert owner.get(reverse("batch-detail", args=[world.private_batch.pk])).status_code == 200
    importer = client_for(world.importer)
    rejected = importer.get(reverse("batch-rejected", args=[world.batch.pk]))
    assert rejected.status_code == 200
    assert rejected["Content-Disposition"].startswith("attachment;")
    assert b"not a timestamp" in b"".join(rejected.streaming_content)  # type: ignore[arg-type]
    rejected.close()
    assert importer.get(reverse("source-detail", args=[world.private.pk])).status_code == 404


def test_admin_navigation_is_shown_to_admins_only(world: World) -> None:
    admin_page = client_for(world.admin).get(reverse("home")).content.decode()
    staff_page = client_for(world.viewer).get(reverse("home")).content.decode()
    for link in (reverse("user-list"), reverse("token-list"), reverse("admin:index")):
        assert f'href="{link}"' in admin_page
        assert f'href="{link}"' not in staff_page
    assert "admin</span>" in admin_page
    assert "staff</span>" in staff_page


def test_log_in_page_renders_and_logs_in(world: World) -> None:
    from factories import PASSWORD

    client = client_for(None)
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content
    wrong = client.post(reverse("login"), {"username": "vera", "password": "nope"})
    assert wrong.status_code == 200
    assert b"Please enter a correct username and password" in wrong.content
    right = client.post(reverse("login"), {"username": "vera", "password": PASSWORD})
    assert right.status_code == 302
    assert right["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_log_out_is_a_post(world: World) -> None:
    client = client_for(world.viewer)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.parametrize("model", ["datasource", "grant", "columnmapping", "importbatch"], ids=str)
def test_django_admin_lists_sources_models(world: World, model: str) -> None:
    response = client_for(world.admin).get(reverse(f"admin:sources_{model}_changelist"))
    assert response.status_code == 200


def test_django_admin_never_lists_token_hashes(world: World) -> None:
    from c360.accounts.logic import create_token

    issued = create_token(
        name="crm", created_by=world.admin, source_ids=[world.public.pk], permissions=["import"]
    )
    client = client_for(world.admin)
    listing = client.get(reverse("admin:accounts_apitoken_changelist"))
    assert listing.status_code == 200
    assert issued.token.token_hash not in listing.content.decode()
    change = client.get(reverse("admin:accounts_apitoken_change", args=[issued.token.pk]))
    assert change.status_code == 200
    assert 'name="token_hash"' not in change.content.decode()  # read-only, not a form field
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
