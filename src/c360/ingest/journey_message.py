"""One JSON object in the classic journey format (customer_id, action_type, time, channel, ...)
as an event row, checked with the rules a file import applies to the same columns.

The fields are recognised as a file's headers are (c360.ingest.canonical: `action_type` is the
event, `time` the timestamp, ...), the required ones must be there, one customer identifier at
least, timestamps are ISO 8601 (without an offset read as UTC) and numbers are numbers. A
field c360 does not know is kept in `properties`. The reason of a rejection names the field as
the message wrote it, as an import's row errors name the column.

The event id is the one a file import gives: from the message id when there is one, else a
hash of the source and the message's content, so the same message produced twice is stored
once, whatever its topic, partition or offset.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from c360.ingest.canonical import KINDS, NUMBER, TIMESTAMP
from c360.ingest.segment import Message, MessageError, event_id, parse_timestamp

_KIND = KINDS["events"]


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _field_of(name: str) -> str | None:
    target = _KIND.synonyms.get(_normalise(name))
    if target is None and name in _KIND.fields:
        target = name
    return target


def _text(value: Any, *, label: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, dict | list):
        raise ValueError(f'{label}: "{_show(value)}" is not text')
    text = str(value).strip()
    return text or None


def _show(value: Any) -> str:
    return json.dumps(value, default=str)[:60] if not isinstance(value, str) else value[:60]


def content_key(source_id: int, message: dict[str, Any]) -> str:
    """A stable id of a message without a message id: its source and content."""
    canonical = json.dumps(message, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.md5(f"{source_id}\x1f{canonical}".encode(), usedforsecurity=False).hexdigest()


def validate_journey_message(message: Any, *, source_id: int, received_at: datetime) -> Message:
    """The message as its event row, or MessageError naming the field and the reason."""
    raw_id = (
        message.get("message_id", message.get("messageId")) if isinstance(message, dict) else None
    )
    shown_id = str(raw_id)[:200] if isinstance(raw_id, str | int) and raw_id else None

    def fail(field: str, reason: str) -> MessageError:
        return MessageError(index=None, field=field, reason=reason, message_id=shown_id)

    if not isinstance(message, dict):
        raise fail("message", "expected a JSON object with the journey fields")
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    properties: dict[str, Any] = {}
    for name, value in message.items():
        field = _field_of(name)
        if field is None or field in values:
            properties[name] = value  # as a file's unmapped column: kept, not lost
            continue
        labels[field] = name
        try:
            cast = _KIND.fields[field]
            if cast == TIMESTAMP:
                text = _text(value, label=name)
                if text is None:
                    values[field] = None
                else:
                    try:
                        values[field] = parse_timestamp(text, field=name)
                    except ValueError:
                        raise ValueError(f'{name}: "{text[:60]}" is not a timestamp') from None
            elif cast == NUMBER:
                if value is None or value == "":
                    values[field] = None
                elif isinstance(value, bool):
                    raise ValueError(f'{name}: "{_show(value)}" is not a number')
                else:
                    try:
                        values[field] = float(value)
                    except (TypeError, ValueError):
                        raise ValueError(f'{name}: "{_show(value)}" is not a number') from None
            else:  # STRING
                values[field] = _text(value, label=name)
        except ValueError as exc:
            label, _, reason = str(exc).partition(": ")
            raise fail(label, reason) from None
    for field in _KIND.required:
        if values.get(field) is None:
            raise fail(labels.get(field, field), f"{field} is required but empty")
    if not any(values.get(field) for field in _KIND.one_of):
        raise fail("/".join(_KIND.one_of), "no customer identifier on this message")
    for field, default in _KIND.defaults.items():
        if values.get(field) is None:
            values[field] = default
    message_id = values.get("message_id")
    if message_id:
        key = event_id(source_id, message_id)
    else:
        key = content_key(source_id, message)
        message_id = key
    row: dict[str, Any] = {field: values.get(field) for field in _KIND.fields}
    row["event_id"] = key
    row["received_at"] = row.get("received_at") or received_at
    row["properties"] = (
        json.dumps(properties, separators=(",", ":"), ensure_ascii=False, default=str)
        if properties
        else None
    )
    return Message(row=row, message_id=str(message_id))
