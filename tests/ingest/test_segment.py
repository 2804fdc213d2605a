"""Segment-spec messages to event rows: each field, each error, clock skew, context."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from c360.ingest.segment import (
    MAX_MESSAGE_BYTES,
    MessageError,
    event_id,
    parse_body,
    parse_user_agent,
    validate_message,
)

RECEIVED = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def valid(message: dict[str, Any], **options: Any) -> dict[str, Any]:
    options.setdefault("source_id", 7)
    options.setdefault("received_at", RECEIVED)
    return validate_message(message, **options).row


def error(message: Any, **options: Any) -> MessageError:
    options.setdefault("source_id", 7)
    options.setdefault("received_at", RECEIVED)
    with pytest.raises(MessageError) as caught:
        validate_message(message, **options)
    return caught.value


def track(**fields: Any) -> dict[str, Any]:
    message = {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m1"}
    return {**message, **fields}


# -- what a valid message becomes --------------------------------------------------------
def test_a_track_message_becomes_an_event_row() -> None:
    row = valid(
        track(
            anonymousId="a1",
            timestamp="2026-05-01T11:59:00Z",
            properties={"revenue": 12.5, "currency": "EUR"},
        )
    )
    assert row["type"] == "track"
    assert row["event"] == "Order Completed"
    assert row["user_id"] == "u1"
    assert row["anonymous_id"] == "a1"
    assert row["message_id"] == "m1"
    assert row["timestamp"] == datetime(2026, 5, 1, 11, 59, tzinfo=UTC)
    assert row["received_at"] == RECEIVED
    assert json.loads(row["properties"]) == {"revenue": 12.5, "currency": "EUR"}
    assert row["traits"] is None


def test_the_event_id_is_the_hash_a_file_import_of_the_same_message_gets() -> None:
    import hashlib

    assert valid(track())["event_id"] == event_id(7, "m1")
    assert event_id(7, "m1") == hashlib.md5(b"7\x1em1", usedforsecurity=False).hexdigest()
    assert event_id(7, "m1") != event_id(8, "m1")  # one source's ids never collide another's


def test_a_message_without_message_id_gets_one_of_its_own() -> None:
    first = validate_message(track(messageId=None), source_id=7, received_at=RECEIVED)
    second = validate_message(track(messageId=None), source_id=7, received_at=RECEIVED)
    assert first.message_id != second.message_id
    assert first.row["event_id"] != second.row["event_id"]


def test_numbers_as_user_ids_are_kept_as_their_text() -> None:
    assert valid(track(userId=12345))["user_id"] == "12345"


@pytest.mark.parametrize(
    ("message", "activity"),
    [
        ({"type": "identify", "userId": "u1"}, "identify"),
        ({"type": "page", "userId": "u1", "name": "Home"}, "Home"),
        ({"type": "page", "userId": "u1"}, "page"),
        ({"type": "screen", "userId": "u1", "name": "Basket"}, "Basket"),
        ({"type": "group", "userId": "u1", "groupId": "g1"}, "group"),
        ({"type": "alias", "userId": "u1", "previousId": "a1"}, "alias"),
    ],
)
def test_every_type_names_its_activity(message: dict[str, Any], activity: str) -> None:
    assert valid(message)["event"] == activity


def test_identify_traits_fill_email_and_phone_for_stitching() -> None:
    row = valid(
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "a1",
            "traits": {"email": "Anna@Example.nl", "phone": "+31 6 1234 5678", "name": "Anna"},
        }
    )
    assert row["email"] == "Anna@Example.nl"  # normalised when identifiers are derived
    assert row["phone"] == "+31 6 1234 5678"
    assert json.loads(row["traits"])["name"] == "Anna"


def test_group_and_alias_keep_their_ids_in_properties() -> None:
    group = valid({"type": "group", "userId": "u1", "groupId": "acme", "traits": {"size": 5}})
    assert json.loads(group["properties"]) == {"groupId": "acme"}
    assert json.loads(group["traits"]) == {"size": 5}
    alias = valid({"type": "alias", "userId": "u1", "previousId": "a1"})
    assert json.loads(alias["properties"]) == {"previousId": "a1"}


def test_alias_links_the_previous_id_as_an_anonymous_id() -> None:
    plain = validate_message(
        {"type": "alias", "userId": "u1", "previousId": "a1"}, source_id=7, received_at=RECEIVED
    )
    assert plain.row["anonymous_id"] == "a1"
    assert plain.alias_link is None
    assert plain.links_people
    # Its own anonymous id in the column, the previous id on a record of its own.
    both = validate_message(
        {"type": "alias", "userId": "u1", "previousId": "a0", "anonymousId": "a1"},
        source_id=7,
        received_at=RECEIVED,
    )
    assert both.row["anonymous_id"] == "a1"
    assert both.alias_link == ("a0", "u1")


def test_an_endpoint_implies_the_type_of_a_message_without_one() -> None:
    assert valid({"userId": "u1", "event": "x"}, kind="track")["type"] == "track"


# -- clock skew ----------------------------------------------------------------------------
def test_clock_skew_is_corrected_with_sent_at() -> None:
    # The device's clock is an hour behind: it stamped the event 10 s before sending it.
    row = valid(track(timestamp="2026-05-01T10:59:50Z", sentAt="2026-05-01T11:00:00Z"))
    assert row["timestamp"] == RECEIVED - timedelta(seconds=10)
    assert row["sent_at"] == datetime(2026, 5, 1, 11, 0, tzinfo=UTC)


def test_the_batch_sent_at_applies_to_its_messages() -> None:
    row = valid(
        track(timestamp="2026-05-01T10:59:50Z"), defaults={"sentAt": "2026-05-01T11:00:00Z"}
    )
    assert row["timestamp"] == RECEIVED - timedelta(seconds=10)


def test_without_sent_at_the_timestamp_stays_and_without_timestamp_it_is_the_arrival() -> None:
    assert valid(track(timestamp="2026-04-30T08:00:00+02:00"))["timestamp"] == datetime(
        2026, 4, 30, 6, 0, tzinfo=UTC
    )
    assert valid(track())["timestamp"] == RECEIVED
    assert valid(track(timestamp="2026-04-30T08:00:00"))["timestamp"].tzinfo is not None


# -- context -------------------------------------------------------------------------------
def test_context_fills_the_promoted_journey_columns() -> None:
    row = valid(
        {
            "type": "page",
            "anonymousId": "a1",
            "name": "Coats",
            "properties": {"url": "https://shop.example.nl/coats?x=1", "title": "Coats | Shop"},
            "context": {
                "ip": "203.0.113.9",
                "userAgent": IPHONE,
                "campaign": {"source": "newsletter", "name": "spring"},
                "location": {"country": "NL", "city": "Utrecht"},
                "device": {"id": "dev-1"},
            },
        }
    )
    assert row["channel"] == "web"
    assert (row["device_category"], row["device_os"], row["device_browser"]) == (
        "mobile",
        "iOS",
        "Safari",
    )
    assert (row["geo_country"], row["geo_city"]) == ("NL", "Utrecht")
    assert row["traffic_source"] == "newsletter"
    assert row["webpage_hostname"] == "shop.example.nl"
    assert row["webpage_url"] == "https://shop.example.nl/coats?x=1"
    assert row["webpage_title"] == "Coats | Shop"
    assert row["device_id"] == "dev-1"
    assert json.loads(row["context"])["ip"] == "203.0.113.9"


def test_the_referrer_host_is_the_traffic_source_without_a_campaign() -> None:
    row = valid(track(context={"page": {"referrer": "https://www.google.com/search?q=coat"}}))
    assert row["traffic_source"] == "www.google.com"


def test_app_context_and_screens_fill_the_app_columns() -> None:
    row = valid(
        {
            "type": "screen",
            "userId": "u1",
            "name": "Basket",
            "context": {"app": {"name": "Shop app"}, "os": {"name": "Android"}},
        }
    )
    assert (row["channel"], row["app_name"], row["app_screen_title"]) == (
        "app",
        "Shop app",
        "Basket",
    )
    assert row["device_os"] == "Android"


def test_batch_context_is_inherited_and_a_message_context_wins() -> None:
    row = valid(
        track(context={"location": {"city": "Delft"}}),
        defaults={"context": {"location": {"city": "Utrecht"}, "channel": "server"}},
    )
    assert row["geo_city"] == "Delft"
    assert row["channel"] == "server"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (IPHONE, ("mobile", "iOS", "Safari")),
        (WINDOWS_CHROME, ("desktop", "Windows", "Chrome")),
        (IPAD, ("tablet", "iPadOS", "Safari")),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", ("bot", None, "Googlebot")),
        ("", (None, None, None)),
    ],
)
def test_user_agents_are_parsed_to_device_os_and_browser(
    user_agent: str, expected: tuple[str | None, ...]
) -> None:
    assert parse_user_agent(user_agent) == expected


# -- errors: each names the message, the field and the reason ------------------------------
@pytest.mark.parametrize(
    ("message", "field", "reason"),
    [
        ({"userId": "u1", "event": "x"}, "type", "required, one of identify, track"),
        (track(type="click"), "type", "expected one of identify, track"),
        (track(type=3), "type", "expected one of"),
        (track(userId=None), "userId/anonymousId", "at least one of them is required"),
        (track(userId="  "), "userId/anonymousId", "at least one of them is required"),
        (track(event=None), "event", "required for a track message"),
        (track(userId={"id": 1}), "userId", "expected a string, got an object"),
        (track(anonymousId=True), "anonymousId", "expected a string, got a boolean"),
        (track(userId="x" * 1001), "userId", "longer than 1000 characters"),
        (track(properties=[1, 2]), "properties", "expected an object, got a list"),
        (track(context="web"), "context", "expected an object, got a string"),
        (track(traits=5), "traits", "expected an object, got a number"),
        (track(timestamp="yesterday"), "timestamp", '"yesterday" is not an ISO 8601 timestamp'),
        (track(timestamp=1714557600), "timestamp", "expected an ISO 8601 timestamp string"),
        (track(sentAt="soon"), "sentAt", '"soon" is not an ISO 8601 timestamp'),
        ({"type": "group", "userId": "u1"}, "groupId", "required for a group message"),
        ({"type": "alias", "userId": "u1"}, "previousId", "required for an alias message"),
        ({"type": "alias", "previousId": "a1", "anonymousId": "a2"}, "userId", "required"),
    ],
)
def test_a_bad_message_is_refused_naming_the_field(
    message: dict[str, Any], field: str, reason: str
) -> None:
    refused = error(message, index=3)
    assert refused.field == field
    assert reason in refused.reason
    assert refused.index == 3
    assert str(refused).startswith("message 3")


def test_the_error_names_the_message_id_when_there_is_one() -> None:
    refused = error(track(event=None, messageId="abc"), index=0)
    assert refused.message_id == "abc"
    assert refused.as_detail() == {
        "index": 0,
        "field": "event",
        "reason": "required for a track message",
        "messageId": "abc",
    }


def test_a_message_that_is_not_an_object_is_refused() -> None:
    refused = error(["track"], index=1)
    assert (refused.field, refused.reason) == ("message", "expected an object, got a list")


def test_an_endpoint_refuses_another_type() -> None:
    refused = error(track(), kind="identify")
    assert refused.field == "type"
    assert "this endpoint takes identify messages, not track" in refused.reason


def test_a_message_over_32_kb_is_refused() -> None:
    refused = error(track(properties={"blob": "x" * MAX_MESSAGE_BYTES}), index=2)
    assert refused.field == "message"
    assert "over the limit of 32768 (32 KB)" in refused.reason
    # Just under the limit is fine.
    message = track(properties={"blob": ""})
    room = MAX_MESSAGE_BYTES - len(json.dumps(message, separators=(",", ":")))
    assert valid(track(properties={"blob": "x" * room}))["event"] == "Order Completed"


# -- bodies --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the body is empty"),
        (b"   ", "the body is empty"),
        (b'{"batch": [', "not valid JSON: unexpected end of data at line 1 column 12"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"x" * 101, "the body is 101 bytes, over the limit of 100"),
    ],
)
def test_a_malformed_body_is_refused_saying_why(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_body(body, limit=100)
