"""Messages of the Segment spec (identify, track, page, screen, group, alias) as event rows.

Pure functions: a decoded message in, a canonical `events` row out, or a `MessageError` that
names the message (its index in the batch and its messageId) and the field that is wrong. The
HTTP tracking API (c360.ingest.tracking) and the group-commit writer (c360.ingest.stream) use
them; nothing here touches a database.

What the spec asks and how it lands (see docs/tracking.md):
- `userId` or `anonymousId`, at least one; `messageId` de-duplicates (the event id is the hash
  of source and messageId, the same key a file import of the same messages gets);
- clock skew: `timestamp = receivedAt - (sentAt - timestamp)` when the client sent `sentAt`;
- context fills the promoted journey columns: the user agent parsed to device, OS and
  browser; page, app, campaign and location;
- 32 KB per message, 500 KB per batch.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("identify", "track", "page", "screen", "group", "alias")
_TEXT_FIELDS = ("userId", "anonymousId", "messageId", "event", "name", "groupId", "previousId")
_OBJECT_FIELDS = ("properties", "traits", "context")
_MAX_ID_LENGTH = 1000  # an identifier longer than this is a mistake, not an identifier


class MessageError(ValueError):
    """One message that cannot be stored: where it is, which field, and why."""

    def __init__(self, *, index: int | None, field: str, reason: str, message_id: str | None):
        where = f"message {index}" if index is not None else "the message"
        if message_id:
            where += f" (messageId {message_id!r})"
        super().__init__(f"{where}: {field}: {reason}")
        self.index = index
        self.field = field
        self.reason = reason
        self.message_id = message_id

    def as_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"field": self.field, "reason": self.reason}
        if self.index is not None:
            detail = {"index": self.index, **detail}
        if self.message_id:
            detail["messageId"] = self.message_id
        return detail


@dataclass(frozen=True)
class Message:
    """A valid message as it lands: its event row and extra identifier links."""

    row: dict[str, Any]
    message_id: str
    # An alias links previousId (taken as an anonymous id) to userId; when the row's own
    # anonymous_id column is taken by a different id, the link rides on a record of its own.
    alias_link: tuple[str, str] | None = None  # (previous id, user id)

    @property
    def links_people(self) -> bool:
        """identify and alias change who is who: the spec wants that visible at once."""
        return self.row["type"] in ("identify", "alias")


def event_id(source_id: int, message_id: str) -> str:
    """The stable event id of a message: the same as staging.build_plan gives a file row
    with this message id, so a replay, by HTTP or by file, is stored once."""
    return hashlib.md5(f"{source_id}\x1e{message_id}".encode(), usedforsecurity=False).hexdigest()


def parse_timestamp(value: Any, *, field: str) -> datetime:
    """An ISO 8601 timestamp as aware UTC; one without an offset is read as UTC."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an ISO 8601 timestamp string, got {_kind(value)}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'{field}: "{value[:60]}" is not an ISO 8601 timestamp') from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _text(message: dict[str, Any], field: str) -> str | None:
    """A text field: strings as they are (trimmed), numbers as their text, else an error."""
    value = message.get(field)
    if value is None:
        return None
    if type(value) is not str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{field}: expected a string, got {_kind(value)}")
        value = str(value)
    text = value.strip()
    if len(text) > _MAX_ID_LENGTH:
        raise ValueError(f"{field}: longer than {_MAX_ID_LENGTH} characters")
    return text or None


def _object(message: dict[str, Any], field: str) -> dict[str, Any]:
    value = message.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{field}: expected an object, got {_kind(value)}")
    return value


_NOTHING: dict[str, Any] = {}
# The types whose activity is their `name` when they have one (else the type).
_NAMED = frozenset({"page", "screen"})


def _sub(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object (context.page ...), empty when absent or not an object."""
    value = obj.get(key)
    return value if isinstance(value, dict) else _NOTHING


def _str(value: Any) -> str | None:
    """A text value as stored: trimmed text, or a number's text; None when absent or else."""
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


@functools.lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> tuple[str | None, str | None, str | None]:
    """(device category, OS, browser) of a user agent, named like the journey format's values
    (desktop/mobile/tablet/bot; macOS, iPadOS; Safari, Chrome)."""
    from ua_parser import parse

    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    os_name = result.os.family if result.os else None
    device = result.device.family if result.device else None
    if browser in ("Other", None):
        browser = None
    else:
        browser = _BROWSERS.get(browser, browser)
    if os_name in ("Other", None):
        os_name = None
    else:
        os_name = _SYSTEMS.get(os_name, os_name)
    if device == "Spider":
        category = "bot"
    elif device == "iPad" or (device or "").lower().startswith("tablet") or "Tablet" in user_agent:
        category = "tablet"
        if os_name == "iOS":
            os_name = "iPadOS"
    elif os_name in ("iOS", "Android") or "Mobile" in user_agent:
        category = "mobile"
    elif os_name is None and browser is None:
        category = None
    else:
        category = "desktop"
    return category, os_name, browser


_BROWSERS = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
}
_SYSTEMS = {"Mac OS X": "macOS"}


def _host(url: str | None) -> str | None:
    if not url:
        return None
    return _hostname(url)


@functools.lru_cache(maxsize=4096)
def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


def _promoted(
    kind: str, name: str | None, context: dict[str, Any], properties: dict[str, Any]
) -> dict[str, Any]:
    """The promoted journey columns a message's context (and page properties) fill."""
    page = _sub(context, "page")
    page_url = _str(page.get("url"))
    page_title = _str(page.get("title"))
    referrer = _str(page.get("referrer"))
    if kind == "page":
        page_url = _str(properties.get("url")) or page_url
        page_title = _str(properties.get("title")) or page_title
        referrer = referrer or _str(properties.get("referrer"))
    app_name = _str(_sub(context, "app").get("name"))
    screen = name if kind == "screen" else None
    category = os_name = browser = None
    user_agent = _str(context.get("userAgent"))
    if user_agent:
        category, os_name, browser = parse_user_agent(user_agent[:1000])
    os_name = _str(_sub(context, "os").get("name")) or os_name
    channel = _str(context.get("channel"))
    if channel is None:
        if app_name or kind == "screen":
            channel = "app"
        elif page_url or kind == "page" or user_agent:
            channel = "web"
    location = _sub(context, "location")
    return {
        "channel": channel,
        "device_category": category,
        "device_os": os_name,
        "device_browser": browser,
        "geo_country": _str(location.get("country")),
        "geo_city": _str(location.get("city")),
        "traffic_source": _str(_sub(context, "campaign").get("source")) or _host(referrer),
        "webpage_hostname": _host(page_url),
        "webpage_url": page_url,
        "webpage_title": page_title,
        "app_name": app_name,
        "app_screen_title": screen,
    }


def _dumps(value: dict[str, Any]) -> str | None:
    if not value:
        return None
    return orjson.dumps(value, default=str).decode()


def validate_message(
    message: Any,
    *,
    source_id: int,
    received_at: datetime,
    index: int | None = None,
    defaults: dict[str, Any] | None = None,
    kind: str | None = None,
    size: int | None = None,
) -> Message:
    """One message as its event row, or MessageError naming what is wrong.

    `defaults` are the batch's own fields (context, sentAt, integrations) a message inherits;
    `kind` is the type an endpoint implies (/v1/track: track) when the message names none;
    `size` is the message's size in bytes when the caller knows it.
    """
    message_id: str | None = None
    if isinstance(message, dict):
        raw_id = message.get("messageId")
        message_id = str(raw_id)[:200] if isinstance(raw_id, str | int) and raw_id else None
    try:
        if not isinstance(message, dict):
            raise ValueError(f"message: expected an object, got {_kind(message)}")
        if size is None:
            size = len(orjson.dumps(message, default=str))
        if size > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"message: {size} bytes, over the limit of {MAX_MESSAGE_BYTES} (32 KB)"
            )
        return _validated(
            message,
            source_id=source_id,
            received_at=received_at,
            defaults=defaults or _NOTHING,
            kind=kind,
            message_id=message_id,
        )
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise MessageError(index=index, field=field, reason=reason, message_id=message_id) from None


def _validated(
    message: dict[str, Any],
    *,
    source_id: int,
    received_at: datetime,
    defaults: dict[str, Any],
    kind: str | None,
    message_id: str | None,
) -> Message:
    given_type = message.get("type")
    if given_type is None:
        if kind is None:
            raise ValueError(f"type: required, one of {', '.join(TYPES)}")
        given_type = kind
    if not isinstance(given_type, str) or given_type.strip().lower() not in TYPES:
        raise ValueError(f"type: expected one of {', '.join(TYPES)}, got {given_type!r}"[:200])
    msg_type = given_type.strip().lower()
    if kind is not None and msg_type != kind:
        raise ValueError(f"type: this endpoint takes {kind} messages, not {msg_type}")
    get = message.get
    texts = {field: None if get(field) is None else _text(message, field) for field in _TEXT_FIELDS}
    objects = {field: _object(message, field) for field in _OBJECT_FIELDS}
    context = objects["context"]
    if defaults.get("context"):  # the batch's context, under the message's own
        context = {**_object(defaults, "context"), **context}
    user_id, anonymous_id = texts["userId"], texts["anonymousId"]
    if user_id is None and anonymous_id is None:
        raise ValueError("userId/anonymousId: at least one of them is required")
    event = texts["event"]
    if msg_type == "track" and event is None:
        raise ValueError("event: required for a track message")
    if msg_type == "group" and texts["groupId"] is None:
        raise ValueError("groupId: required for a group message")
    previous_id = texts["previousId"]
    if msg_type == "alias":
        if previous_id is None:
            raise ValueError("previousId: required for an alias message")
        if user_id is None:
            raise ValueError("userId: required for an alias message")

    # Clock skew, as the spec puts it: the device's clock may be off, so its timestamp is
    # moved by the difference between when it sent the message and when it arrived.
    original = (
        parse_timestamp(message["timestamp"], field="timestamp")
        if message.get("timestamp") is not None
        else None
    )
    sent_raw = message.get("sentAt", defaults.get("sentAt"))
    sent_at = parse_timestamp(sent_raw, field="sentAt") if sent_raw is not None else None
    if original is None:
        timestamp = received_at
    elif sent_at is not None:
        timestamp = received_at - (sent_at - original)
    else:
        timestamp = original

    if message_id is None:
        # No messageId (the client libraries always send one): nothing to de-duplicate on.
        message_id = str(uuid.uuid4())
    properties = objects["properties"]
    traits = objects["traits"] or (
        _object(context, "traits") if isinstance(context.get("traits"), dict) else {}
    )
    name = texts["name"]
    # What the message type says goes in properties too, on a copy (the body stays as sent).
    if msg_type == "group":
        properties = {**properties, "groupId": properties.get("groupId", texts["groupId"])}
    elif msg_type == "alias":
        properties = {**properties, "previousId": properties.get("previousId", previous_id)}
    elif msg_type in ("page", "screen") and name:
        properties = {**properties, "name": properties.get("name", name)}
    row_anonymous_id = anonymous_id
    alias_link = None
    if msg_type == "alias" and previous_id is not None and user_id is not None:
        if anonymous_id is None:
            row_anonymous_id = previous_id
        elif previous_id != anonymous_id:
            alias_link = (previous_id, user_id)
    activity = (
        event if msg_type == "track" else (name or msg_type) if msg_type in _NAMED else msg_type
    )
    email = _str(traits.get("email"))
    phone = _str(traits.get("phone"))
    row: dict[str, Any] = {
        "event_id": event_id(source_id, message_id),
        "type": msg_type,
        "event": activity,
        "message_id": message_id,
        "user_id": user_id,
        "anonymous_id": row_anonymous_id,
        "timestamp": timestamp,
        "sent_at": sent_at,
        "received_at": received_at,
        "email": email,
        "phone": phone,
        "device_id": _str(_sub(context, "device").get("id")),
        "session_id": _str(context.get("sessionId")),
        **_promoted(msg_type, name, context, properties),
        "properties": _dumps(properties),
        "traits": _dumps(traits),
        "context": _dumps(context),
    }
    return Message(row=row, message_id=message_id, alias_link=alias_link)


def parse_body(body: bytes, *, limit: int) -> Any:
    """The decoded JSON body, or ValueError saying why it is not one."""
    if len(body) > limit:
        raise ValueError(f"the body is {len(body)} bytes, over the limit of {limit}")
    if not body.strip():
        raise ValueError("the body is empty; send a JSON object")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8 text") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def now() -> datetime:
    return datetime.now(UTC)
