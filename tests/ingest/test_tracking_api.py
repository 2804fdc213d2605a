"""The HTTP tracking API (/v1/...) through the server's ASGI application, against a real
warehouse and the real group-commit writer."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from c360.ingest import stream
from c360.ingest.segment import event_id
from c360.sources import logic
from c360.sources.models import DataSource, ImportBatch, SourceKind
from c360.warehouse import Warehouse
from factories import make_admin, make_source


@dataclass
class Site:
    admin: User
    source: DataSource
    other: DataSource
    write_key: str
    other_key: str
    warehouse: Warehouse


@pytest.fixture
def site(transactional_db: None, warehouse: Warehouse) -> Iterator[Site]:
    admin = make_admin("root")
    source = make_source(owner=admin, name="Web shop")
    other = make_source(owner=admin, name="App")
    issued = logic.create_write_key(actor=admin, source=source, name="web")
    other_issued = logic.create_write_key(actor=admin, source=other, name="app")
    try:
        yield Site(admin, source, other, issued.secret, other_issued.secret, warehouse)
    finally:
        stream.stop_stream_writer()


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def call(
    method: str, path: str, *, content: bytes = b"", headers: dict[str, str]
) -> httpx.Response:
    """One request to the ASGI application `c360 serve` runs (c360.web.asgi)."""
    from c360.web.asgi import application

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.request(method, path, content=content, headers=headers)

    return asyncio.run(send())


def post(
    path: str, body: Any, *, key: str | None, raw: bytes | None = None, **headers: str
) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = basic(key)
    data = raw if raw is not None else json.dumps(body).encode()
    return call("POST", path, content=data, headers={"Content-Type": "application/json", **headers})


def events(warehouse: Warehouse, **equals: Any) -> list[dict[str, Any]]:
    table = warehouse.table("events")
    for column, value in equals.items():
        table = table.filter(table[column] == value)
    return list(table.order_by("row_number").to_pyarrow().to_pylist())


def track(message_id: str, **fields: Any) -> dict[str, Any]:
    return {"userId": "u1", "event": "Product Viewed", "messageId": message_id, **fields}


# -- storing -----------------------------------------------------------------------------
def test_a_track_call_is_stored_before_it_is_acknowledged(site: Site) -> None:
    response = post(
        "/v1/track",
        track("m1", properties={"sku": "P1"}, context={"location": {"city": "Utrecht"}}),
        key=site.write_key,
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "accepted": 1, "rejected": []}
    [row] = events(site.warehouse, message_id="m1")
    assert row["source_id"] == site.source.pk
    assert row["event_id"] == event_id(site.source.pk, "m1")
    assert (row["type"], row["event"], row["user_id"]) == ("track", "Product Viewed", "u1")
    assert row["geo_city"] == "Utrecht"
    assert json.loads(row["properties"]) == {"sku": "P1"}
    # Its identifiers came in the same commit.
    ids = site.warehouse.table("identifiers")
    assert ids.filter(ids.record_id == row["event_id"]).count().execute() == 1


@pytest.mark.parametrize("kind", ["identify", "page", "screen", "group", "alias"])
def test_each_single_endpoint_stores_its_type(site: Site, kind: str) -> None:
    message = {
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": f"m-{kind}",
        "name": "Home",
        "groupId": "g1",
        "previousId": "a0",
    }
    response = post(f"/v1/{kind}", message, key=site.write_key)
    assert response.status_code == 200, response.content
    [row] = events(site.warehouse, message_id=f"m-{kind}")
    assert row["type"] == kind


def test_the_same_message_twice_is_stored_once(site: Site) -> None:
    for _ in range(2):
        assert post("/v1/track", track("m1"), key=site.write_key).status_code == 200
    body = {"batch": [{"type": "track", **track("m1")}, {"type": "track", **track("m1")}]}
    assert post("/v1/batch", body, key=site.write_key).status_code == 200
    assert len(events(site.warehouse, message_id="m1")) == 1
    ids = site.warehouse.table("identifiers")
    assert ids.filter(ids.record_id == event_id(site.source.pk, "m1")).count().execute() == 1
    # The import log counts them as duplicates (the counts are written when the writer stops).
    stream.stop_stream_writer()
    [batch] = ImportBatch.objects.filter(source=site.source)
    assert (batch.rows_read, batch.rows_inserted, batch.rows_duplicate) == (4, 1, 3)


def test_the_write_key_decides_the_source(site: Site) -> None:
    post("/v1/track", track("m1"), key=site.other_key)
    [row] = events(site.warehouse, message_id="m1")
    assert row["source_id"] == site.other.pk
    assert row["event_id"] == event_id(site.other.pk, "m1")


def test_streamed_events_land_in_a_stream_batch_of_the_import_log(site: Site) -> None:
    body = {"batch": [{"type": "track", **track(f"m{i}")} for i in range(3)]}
    post("/v1/batch", body, key=site.write_key)
    post("/v1/track", track("m9"), key=site.write_key)
    stream.stop_stream_writer()  # writes the counts
    [batch] = ImportBatch.objects.filter(source=site.source)
    assert batch.file_format == stream.STREAM_FORMAT
    assert batch.status == "done"
    assert (batch.rows_read, batch.rows_inserted) == (4, 4)
    rows = events(site.warehouse, source_id=site.source.pk)
    assert {r["batch_id"] for r in rows} == {batch.pk}
    assert [r["row_number"] for r in rows] == [1, 2, 3, 4]
    # Rolled back like a file import; the next events start a new batch.
    logic.rollback_batch(actor=site.admin, batch=batch)
    assert events(site.warehouse, source_id=site.source.pk) == []
    post("/v1/track", track("m10"), key=site.write_key)
    [row] = events(site.warehouse, source_id=site.source.pk)
    assert row["batch_id"] != batch.pk
    assert row["row_number"] == 1


def test_a_batch_stores_the_good_messages_and_names_the_bad_ones(site: Site) -> None:
    body = {
        "sentAt": "2026-05-01T12:00:00Z",
        "context": {"location": {"country": "NL"}},
        "batch": [
            {"type": "track", **track("good-1")},
            {"type": "track", "event": "x", "messageId": "no-user"},
            {"type": "identify", "userId": "u2", "messageId": "good-2"},
            {"type": "track", **track("bad-time", timestamp="soon")},
            "not a message",
        ],
    }
    response = post("/v1/batch", body, key=site.write_key)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["accepted"] == 2
    assert answer["rejected"] == [
        {
            "index": 1,
            "field": "userId/anonymousId",
            "reason": "at least one of them is required",
            "messageId": "no-user",
        },
        {
            "index": 3,
            "field": "timestamp",
            "reason": '"soon" is not an ISO 8601 timestamp',
            "messageId": "bad-time",
        },
        {"index": 4, "field": "message", "reason": "expected an object, got a string"},
    ]
    stored = {r["message_id"]: r for r in events(site.warehouse)}
    assert set(stored) == {"good-1", "good-2"}
    assert stored["good-1"]["geo_country"] == "NL"  # the batch's context


def test_a_batch_of_only_bad_messages_is_refused(site: Site) -> None:
    response = post("/v1/batch", {"batch": [{"type": "track"}]}, key=site.write_key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_message"
    assert error["message"].startswith("None of the 1 messages is valid; nothing was stored.")
    assert error["details"] == [
        {"index": 0, "field": "userId/anonymousId", "reason": "at least one of them is required"}
    ]
    assert events(site.warehouse) == []


def test_a_bad_single_message_says_which_field(site: Site) -> None:
    response = post("/v1/track", {"userId": "u1"}, key=site.write_key)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "event", "reason": "required for a track message"}
    ]
    response = post("/v1/identify", track("m1", type="track"), key=site.write_key)
    assert response.status_code == 400
    assert "this endpoint takes identify messages, not track" in response.json()["error"]["message"]


# -- who may write -----------------------------------------------------------------------
def test_without_a_write_key_the_call_is_refused(site: Site) -> None:
    response = post("/v1/track", track("m1"), key=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.json()["error"]["code"] == "unauthenticated"
    assert "No write key" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        ("Bearer c360wk_x", "not Bearer auth"),
        ("Basic !!!", "not valid Basic credentials"),
        (basic("c360wk_guessed_key"), "not known or has been revoked"),
        (basic("someone-elses-key"), "not known or has been revoked"),
    ],
)
def test_a_wrong_write_key_is_refused(site: Site, authorization: str, says: str) -> None:
    response = post("/v1/track", track("m1"), key=None, Authorization=authorization)
    assert response.status_code == 401
    assert says in response.json()["error"]["message"]
    assert events(site.warehouse) == []


def test_a_revoked_write_key_is_refused_at_once(site: Site) -> None:
    assert post("/v1/track", track("m1"), key=site.write_key).status_code == 200
    [key] = site.source.write_keys.all()
    logic.revoke_write_key(actor=site.admin, write_key=key)
    response = post("/v1/track", track("m2"), key=site.write_key)
    assert response.status_code == 401
    assert [r["message_id"] for r in events(site.warehouse)] == ["m1"]


def test_the_write_key_may_come_in_the_body(site: Site) -> None:
    body = {"writeKey": site.write_key, "batch": [{"type": "track", **track("m1")}]}
    assert post("/v1/batch", body, key=None).status_code == 200
    assert post("/v1/import", {**body, "batch": [{"type": "track", **track("m2")}]}, key=None)
    assert {r["message_id"] for r in events(site.warehouse)} == {"m1", "m2"}


# -- limits and malformed bodies -----------------------------------------------------------
def test_over_the_limits_the_answer_says_which(site: Site) -> None:
    big = track("m1", properties={"blob": "x" * 33_000})
    response = post("/v1/track", big, key=site.write_key)
    assert response.status_code == 413
    assert "over the limit of 32768 bytes (32 KB)" in response.json()["error"]["message"]
    batch = {"batch": [{"type": "track", **track(f"m{i}", properties={"b": "x" * 30_000})}
                       for i in range(20)]}  # fmt: skip
    response = post("/v1/batch", batch, key=site.write_key)
    assert response.status_code == 413
    assert "over the limit of 512000 bytes (500 KB)" in response.json()["error"]["message"]
    # In a batch, the one message over 32 KB is named and the others are stored.
    mixed = {"batch": [{"type": "track", **big}, {"type": "track", **track("m2")}]}
    response = post("/v1/batch", mixed, key=site.write_key)
    assert response.status_code == 200
    [rejected] = response.json()["rejected"]
    assert (rejected["index"], rejected["field"]) == (0, "message")
    assert "over the limit of 32768 (32 KB)" in rejected["reason"]
    assert [r["message_id"] for r in events(site.warehouse)] == ["m2"]


@pytest.mark.parametrize(
    ("path", "raw", "says"),
    [
        ("/v1/track", b'{"userId": "u1",', "The body is not valid JSON"),
        ("/v1/track", b"", "The body is empty"),
        ("/v1/batch", b"[1, 2]", 'The body must be a JSON object: {"batch": [...]}'),
        ("/v1/batch", b'{"messages": []}', 'The body needs "batch": a list of messages'),
        ("/v1/batch", b'{"batch": []}', 'The "batch" list is empty'),
    ],
)
def test_a_malformed_body_is_refused_saying_why(
    site: Site, path: str, raw: bytes, says: str
) -> None:
    response = post(path, None, key=site.write_key, raw=raw)
    assert response.status_code == 400
    assert says in response.json()["error"]["message"]


def test_only_post_is_allowed(site: Site) -> None:
    response = call("GET", "/v1/track", headers={})
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    unknown = post("/v1/trak", track("m1"), key=None)
    assert unknown.status_code == 404
    assert "No tracking endpoint /v1/trak" in unknown.json()["error"]["message"]


def test_a_gzip_body_is_read(site: Site) -> None:
    raw = gzip.compress(json.dumps({"batch": [{"type": "track", **track("m1")}]}).encode())
    response = post("/v1/batch", None, key=site.write_key, raw=raw, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.content
    bad = post("/v1/batch", None, key=site.write_key, raw=b"plain", **{"Content-Encoding": "gzip"})
    assert bad.status_code == 400
    assert "is not gzip" in bad.json()["error"]["message"]


# -- overload ------------------------------------------------------------------------------
def test_a_full_queue_answers_429_with_retry_after_and_drops_nothing(site: Site) -> None:
    from c360.ingest.segment import validate_message

    writer = stream.StreamWriter(max_pending_events=3)
    stream._writer = writer  # the process's writer, with a small queue

    def message(message_id: str) -> Any:
        return validate_message(
            {"type": "track", **track(message_id)},
            source_id=site.source.pk,
            received_at=stream.datetime.now(stream.UTC),
        )

    # The warehouse is busy (another writer holds it), so the queue fills up.
    with site.warehouse.exclusive():
        first = writer.submit(source_id=site.source.pk, messages=[message("q1")])
        time.sleep(0.3)  # the writer took q1 and waits for the warehouse
        queued = [writer.submit(source_id=site.source.pk, messages=[message(f"q{i}")])
                  for i in (2, 3, 4)]  # fmt: skip
        with pytest.raises(stream.Overloaded) as overloaded:
            writer.submit(source_id=site.source.pk, messages=[message("q5")])
        assert overloaded.value.retry_after >= 1
        response = post("/v1/track", track("m-refused"), key=site.write_key)
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert "nothing of this request was stored" in response.json()["error"]["message"]
        assert not first.done()
    for future in [first, *queued]:
        assert future.result(timeout=30).accepted == 1
    stored = {r["message_id"] for r in events(site.warehouse)}
    assert stored == {"q1", "q2", "q3", "q4"}


# -- identity --------------------------------------------------------------------------------
def _profile_events(admin: User, id_type: str, value: str) -> list[str | None]:
    from c360.profiles import logic as profiles

    person_id = profiles.lookup(admin, id_type=id_type, value=value)
    page = profiles.timeline(admin, person_id=person_id)
    return sorted(entry.activity or "" for entry in page.entries)


def test_an_identify_links_the_anonymous_history_before_it_is_acknowledged(site: Site) -> None:
    visits = [
        {"type": "page", "anonymousId": "anon-7", "name": "Home", "messageId": "p1"},
        {"type": "track", "anonymousId": "anon-7", "event": "Product Viewed", "messageId": "p2"},
    ]
    assert post("/v1/batch", {"batch": visits}, key=site.write_key).status_code == 200
    identify = {"userId": "user-7", "anonymousId": "anon-7", "traits": {"email": "A@b.nl"}}
    response = post("/v1/identify", {**identify, "messageId": "i1"}, key=site.write_key)
    assert response.status_code == 200
    # The very next profile read: one person, with the anonymous history and the e-mail.
    assert _profile_events(site.admin, "user_id", "user-7") == [
        "Home",
        "Product Viewed",
        "identify",
    ]
    assert _profile_events(site.admin, "email", "a@b.nl") == ["Home", "Product Viewed", "identify"]


def test_an_alias_links_the_previous_id_before_it_is_acknowledged(site: Site) -> None:
    post("/v1/track", {"anonymousId": "old-anon", "event": "Visit", "messageId": "v1"},
         key=site.write_key)  # fmt: skip
    post("/v1/track", {"userId": "u9", "anonymousId": "new-anon", "event": "Login",
                       "messageId": "v2"}, key=site.write_key)  # fmt: skip
    body = {"userId": "u9", "previousId": "old-anon", "anonymousId": "new-anon", "messageId": "a1"}
    assert post("/v1/alias", body, key=site.write_key).status_code == 200
    assert _profile_events(site.admin, "anonymous_id", "old-anon") == ["Login", "Visit", "alias"]


def test_a_known_persons_event_is_in_the_profile_once_acknowledged(site: Site) -> None:
    post("/v1/identify", {"userId": "u5", "anonymousId": "a5", "messageId": "i5"},
         key=site.write_key)  # fmt: skip
    journal = site.warehouse.table("identity_pending")
    assert journal.count().execute() == 0  # linked before the identify was acknowledged
    # u5 is known: the event goes to their profile in its own commit, nothing is left to link.
    post("/v1/track", track("t5", userId="u5", anonymousId="a5", event="Checkout"),
         key=site.write_key)  # fmt: skip
    assert "Checkout" in _profile_events(site.admin, "user_id", "u5")
    assert journal.count().execute() == 0


def test_an_event_with_a_new_identifier_reaches_the_profile_after_the_next_update(
    site: Site,
) -> None:
    post("/v1/identify", {"userId": "u6", "messageId": "i6"}, key=site.write_key)
    # A new device id: who is who may change, so the identity update places it.
    post("/v1/track", track("t6", userId="u6", event="Login", context={"device": {"id": "d6"}}),
         key=site.write_key)  # fmt: skip
    deadline = time.monotonic() + 30
    while "Login" not in _profile_events(site.admin, "user_id", "u6"):
        assert time.monotonic() < deadline, "the event never reached the profile"
        time.sleep(0.2)
    assert _profile_events(site.admin, "device_id", "d6") == ["Login", "identify"]


# -- write keys are only for events sources --------------------------------------------------
def test_write_keys_are_for_events_sources_of_their_managers(site: Site) -> None:
    from factories import make_staff

    customers = make_source(owner=site.admin, name="CRM", kind=SourceKind.CUSTOMERS)
    with pytest.raises(ValueError, match="the tracking API writes events"):
        logic.create_write_key(actor=site.admin, source=customers, name="crm")
    staff = make_staff("sam")
    with pytest.raises(logic.NotFound):
        logic.create_write_key(actor=staff, source=site.source, name="mine")
    issued = logic.create_write_key(actor=site.admin, source=site.source, name="second")
    stored = site.source.write_keys.get(pk=issued.write_key.pk)
    assert issued.secret not in (stored.key_hash, stored.prefix)
    assert issued.secret.startswith(f"c360wk_{stored.prefix}_")
    assert logic.source_for_write_key(issued.secret) == site.source.pk
