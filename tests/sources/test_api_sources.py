"""Data sources, grants and column mappings through the API."""

from __future__ import annotations

from api_helpers import Api, World, assert_error

from c360.sources.models import ColumnMapping, DataSource, Grant


def _names(response: object) -> list[str]:
    return [source["name"] for source in response.json()]  # type: ignore[attr-defined]


def test_each_caller_lists_the_sources_they_may_see(world: World) -> None:
    assert _names(Api(world.admin).get("/api/sources")) == ["CRM", "Olivia's notes", "Shop"]
    assert _names(Api(world.owner).get("/api/sources")) == ["CRM", "Olivia's notes", "Shop"]
    assert _names(Api(world.bystander).get("/api/sources")) == ["CRM", "Shop"]
    assert _names(Api(world.shop_token).get("/api/sources")) == ["Shop"]
    assert _names(Api(world.crm_token).get("/api/sources")) == ["CRM"]


def test_a_source_says_what_the_caller_may_do(world: World) -> None:
    path = f"/api/sources/{world.shop.pk}"

    assert Api(world.admin).get(path).json()["allowed"] == ["view", "import", "analyze", "manage"]
    assert Api(world.granted).get(path).json()["allowed"] == ["view", "import", "analyze"]
    assert Api(world.bystander).get(path).json()["allowed"] == ["view"]
    assert Api(world.shop_token).get(path).json()["allowed"] == ["view", "import", "analyze"]


def test_staff_create_private_sources_they_own(world: World) -> None:
    response = Api(world.bystander).post(
        "/api/sources", json={"name": "Bert's test", "kind": "orders", "description": "trial"}
    )

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["owner"] == world.bystander.username
    assert created["visibility"] == "private"
    assert created["kind"] == "orders"
    assert created["allowed"] == ["view", "import", "analyze", "manage"]
    assert _names(Api(world.owner).get("/api/sources")) == ["CRM", "Olivia's notes", "Shop"]


def test_staff_cannot_create_public_sources(world: World) -> None:
    response = Api(world.bystander).post(
        "/api/sources", json={"name": "Everyone's", "kind": "events", "visibility": "public"}
    )

    assert_error(response, 403, "forbidden")
    assert not DataSource.objects.filter(name="Everyone's").exists()


def test_admins_create_public_sources(world: World) -> None:
    response = Api(world.admin).post(
        "/api/sources", json={"name": "Web", "kind": "events", "visibility": "public"}
    )

    assert response.status_code == 201
    assert "Web" in _names(Api(world.bystander).get("/api/sources"))


def test_a_duplicate_source_name_is_refused(world: World) -> None:
    response = Api(world.admin).post("/api/sources", json={"name": "shop", "kind": "events"})

    error = assert_error(response, 422, "invalid")
    assert "exists already" in error["message"]


def test_an_unknown_kind_is_refused(world: World) -> None:
    response = Api(world.admin).post("/api/sources", json={"name": "X", "kind": "tweets"})

    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["where"].endswith("kind")


def test_the_owner_changes_the_description_but_not_to_public(world: World) -> None:
    owner = Api(world.owner)
    path = f"/api/sources/{world.private.pk}"

    changed = owner.call("patch", path, json={"description": "my notes"})
    published = owner.call("patch", path, json={"visibility": "public"})

    assert changed.status_code == 200
    assert changed.json()["description"] == "my notes"
    assert changed.json()["visibility"] == "private"
    assert_error(published, 403, "forbidden")
    world.private.refresh_from_db()
    assert world.private.visibility == "private"


def test_grants_are_set_listed_and_taken_back(world: World) -> None:
    admin = Api(world.admin)
    grants = f"/api/sources/{world.shop.pk}/grants"

    given = admin.call(
        "put",
        f"{grants}/{world.bystander.pk}",
        json={"can_import": True, "can_analyze": False},
    )
    listed = admin.get(grants)

    assert given.status_code == 200
    assert given.json()["can_import"] is True
    assert given.json()["granted_by"] == world.admin.username
    assert [(g["username"], g["can_import"], g["can_analyze"]) for g in listed.json()] == [
        ("bert", True, False),
        ("gina", True, True),
    ]
    assert "import" in Api(world.bystander).get(f"/api/sources/{world.shop.pk}").json()["allowed"]

    taken = admin.call(
        "put",
        f"{grants}/{world.bystander.pk}",
        json={"can_import": False, "can_analyze": False},
    )

    assert taken.status_code == 200
    assert taken.json()["granted_at"] is None
    assert not Grant.objects.filter(user=world.bystander).exists()


def test_the_owner_grants_on_their_private_source(world: World) -> None:
    response = Api(world.owner).call(
        "put",
        f"/api/sources/{world.private.pk}/grants/{world.bystander.pk}",
        json={"can_import": False, "can_analyze": True},
    )

    assert response.status_code == 200
    assert "Olivia's notes" in _names(Api(world.bystander).get("/api/sources"))


def test_a_grant_to_an_unknown_user_is_not_found(world: World) -> None:
    response = Api(world.admin).call(
        "put",
        f"/api/sources/{world.shop.pk}/grants/9999",
        json={"can_import": True, "can_analyze": True},
    )

    assert_error(response, 404, "not_found")


def test_an_unknown_source_is_not_found(world: World) -> None:
    assert_error(Api(world.admin).get("/api/sources/9999"), 404, "not_found")


MAPPING_SPEC = {
    "fields": {
        "customer_id": {"column": "case:concept:name"},
        "event": {"column": "concept:name"},
        "timestamp": {"column": "time:timestamp"},
    },
    "properties": "rest",
}


def test_mappings_are_saved_listed_by_kind_and_replaced(world: World) -> None:
    staff = Api(world.bystander)

    saved = staff.post(
        "/api/mappings", json={"name": "event log", "kind": "events", "spec": MAPPING_SPEC}
    )
    again = staff.post(
        "/api/mappings",
        json={"name": "event log", "kind": "events", "spec": MAPPING_SPEC | {"properties": "none"}},
    )

    assert saved.status_code == 201, saved.content
    assert saved.json()["spec"]["fields"]["event"]["column"] == "concept:name"
    assert again.json()["spec"]["properties"] == "none"
    assert ColumnMapping.objects.count() == 1
    listed = Api(world.shop_token).get("/api/mappings?kind=events").json()
    assert [(m["name"], m["kind"]) for m in listed] == [("event log", "events")]
    assert Api(world.shop_token).get("/api/mappings?kind=orders").json() == []


def test_a_bad_mapping_is_refused_with_the_reason(world: World) -> None:
    spec = {"fields": {"no_such_field": {"column": "x"}}, "properties": "rest"}

    response = Api(world.bystander).post(
        "/api/mappings", json={"name": "broken", "kind": "events", "spec": spec}
    )

    error = assert_error(response, 422, "invalid")
    assert "no_such_field" in error["message"]
    assert not ColumnMapping.objects.exists()


def test_mappings_are_suggested_from_journey_columns(world: World) -> None:
    response = Api(world.shop_token).get(
        "/api/mappings/suggest?kind=events&columns=customer_id, action_type,time,channel,colour"
    )

    assert response.status_code == 200
    suggestion = response.json()
    assert suggestion["columns"] == ["customer_id", "action_type", "time", "channel", "colour"]
    fields = suggestion["spec"]["fields"]
    assert fields["customer_id"] == {"column": "customer_id"}
    assert fields["event"] == {"column": "action_type"}
    assert fields["timestamp"] == {"column": "time"}
    assert "colour" not in str(fields)
    assert suggestion["spec"]["properties"] == "rest"


def test_a_suggestion_needs_columns(world: World) -> None:
    response = Api(world.admin).get("/api/mappings/suggest?kind=events&columns=,")

    assert_error(response, 422, "invalid")
