"""The HTTP tracking API, compatible with the Segment spec: /v1/identify, /v1/track, /v1/page,
/v1/screen, /v1/group, /v1/alias and /v1/batch (also /v1/import).

Who: a client holding an active write key of an events source, sent as HTTP Basic user name
with an empty password (or, as the field's libraries also do, as `writeKey` in the body).

Plain async Django views rather than NinjaAPI routes: a request waits for the group commit
without holding a thread, and the Segment-style Basic auth and body limits need no schema.
Errors use the API's one shape, `{"error": {"code", "message", "details"}}`. The answer is
200 only once the events are committed (c360.ingest.stream).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import io
import zlib
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from c360.ingest.segment import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    Message,
    MessageError,
    now,
    parse_body,
    validate_message,
)
from c360.ingest.stream import Overloaded, stream_writer

_SINGLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def _error(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JsonResponse(body, status=status, headers=headers)


class _Refused(Exception):
    def __init__(self, response: JsonResponse) -> None:
        self.response = response


def _basic_write_key(request: HttpRequest) -> str | None:
    """The write key of an `Authorization: Basic` header (user name; the password is empty)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "basic":
        raise _Refused(
            _error(
                401,
                "unauthenticated",
                "Send the source's write key as HTTP Basic user name with an empty password "
                f"(Authorization: Basic base64('<write key>:')), not {scheme or 'this'} auth.",
                headers={"WWW-Authenticate": 'Basic realm="c360 tracking"'},
            )
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _Refused(
            _error(
                401,
                "unauthenticated",
                "The Authorization header is not valid Basic credentials (base64 of "
                "'<write key>:').",
                headers={"WWW-Authenticate": 'Basic realm="c360 tracking"'},
            )
        ) from None
    return decoded.partition(":")[0].strip() or None


async def _source_of(write_key: str | None) -> int:
    from c360.sources.logic import source_for_write_key

    if not write_key:
        raise _Refused(
            _error(
                401,
                "unauthenticated",
                "No write key: send the source's write key as HTTP Basic user name with an "
                "empty password.",
                headers={"WWW-Authenticate": 'Basic realm="c360 tracking"'},
            )
        )
    source_id = await sync_to_async(source_for_write_key)(write_key)
    if source_id is None:
        raise _Refused(
            _error(
                401,
                "unauthenticated",
                "The write key is not known or has been revoked; create one on the source's page.",
                headers={"WWW-Authenticate": 'Basic realm="c360 tracking"'},
            )
        )
    return source_id


def _body(request: HttpRequest, *, limit: int) -> Any:
    """The decoded JSON body within `limit` bytes (after gzip, when sent compressed)."""
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _Refused(
            _error(
                413,
                "too_large",
                f"The body is {declared} bytes, over the limit of {limit} bytes "
                f"({limit // 1024} KB) for this endpoint.",
            )
        )
    raw = request.body
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip":
        try:
            raw = _gunzip(raw, limit=limit)
        except (OSError, EOFError, zlib.error):
            raise _Refused(
                _error(400, "malformed", "The body says Content-Encoding gzip but is not gzip.")
            ) from None
    elif encoding not in ("", "identity"):
        raise _Refused(
            _error(415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip or none.")
        )
    if len(raw) > limit:
        raise _Refused(
            _error(
                413,
                "too_large",
                f"The body is {len(raw)} bytes, over the limit of {limit} bytes "
                f"({limit // 1024} KB) for this endpoint.",
            )
        )
    try:
        return parse_body(raw, limit=limit)
    except ValueError as exc:
        raise _Refused(_error(400, "malformed", f"{str(exc)[0].upper()}{str(exc)[1:]}.")) from None


def _gunzip(raw: bytes, *, limit: int) -> bytes:
    """Decompress at most limit + 1 bytes: a small bomb must not fill the memory."""
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
        return unzipped.read(limit + 1)


async def _store(source_id: int, messages: list[Message]) -> JsonResponse | None:
    """Hand the messages to the group-commit writer and wait until they are committed."""
    try:
        future = stream_writer().submit(source_id=source_id, messages=messages)
    except Overloaded as exc:
        return _error(
            429,
            "overloaded",
            f"The server is taking in more events than it can store right now; nothing of "
            f"this request was stored. Retry after {exc.retry_after} s.",
            headers={"Retry-After": str(exc.retry_after)},
        )
    try:
        await asyncio.wrap_future(future)
    except Exception:
        return _error(
            503,
            "not_stored",
            "The events could not be stored; nothing of this request was acknowledged. "
            "Retry (messages already stored are not stored twice).",
            headers={"Retry-After": "1"},
        )
    return None


def _endpoint(
    handler: Callable[[HttpRequest], Coroutine[Any, Any, JsonResponse]],
) -> Callable[[HttpRequest], Coroutine[Any, Any, JsonResponse]]:
    async def view(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if request.method != "POST":
            return _error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here: POST a JSON body.",
                headers={"Allow": "POST"},
            )
        try:
            return await handler(request, *args, **kwargs)
        except _Refused as refused:
            return refused.response

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return csrf_exempt(view)


async def _single(request: HttpRequest, kind: str) -> JsonResponse:
    """One message of the type the path names (/v1/track ...), up to 32 KB."""
    header_key = _basic_write_key(request)
    message = _body(request, limit=MAX_MESSAGE_BYTES)
    body_key = message.get("writeKey") if isinstance(message, dict) else None
    source_id = await _source_of(header_key or (body_key if isinstance(body_key, str) else None))
    if isinstance(message, dict):
        message.pop("writeKey", None)
    try:
        valid = validate_message(
            message,
            source_id=source_id,
            received_at=now(),
            kind=kind,
            size=0,  # the body, this message, is within 32 KB: _body checked
        )
    except MessageError as exc:
        return _error(
            400, "invalid_message", f"{str(exc)[0].upper()}{str(exc)[1:]}.", [exc.as_detail()]
        )
    refused = await _store(source_id, [valid])
    if refused is not None:
        return refused
    return JsonResponse({"success": True, "accepted": 1, "rejected": []})


def _single_view(kind: str) -> Callable[[HttpRequest], Coroutine[Any, Any, JsonResponse]]:
    async def handler(request: HttpRequest) -> JsonResponse:
        return await _single(request, kind)

    handler.__name__ = kind
    handler.__doc__ = f"POST /v1/{kind}: one {kind} message."
    return _endpoint(handler)


identify, track, page, screen, group, alias = (_single_view(kind) for kind in _SINGLE_TYPES)


@_endpoint
async def batch(request: HttpRequest) -> JsonResponse:
    """POST /v1/batch (and /v1/import): up to 500 KB of messages of any type.

    Good messages are stored even when others are bad; the answer names each bad one by its
    index in `batch`, its messageId, the field and the reason. All bad: 400.
    """
    header_key = _basic_write_key(request)
    body = _body(request, limit=MAX_BATCH_BYTES)
    if not isinstance(body, dict):
        return _error(400, "malformed", 'The body must be a JSON object: {"batch": [...]}.')
    body_key = body.get("writeKey")
    source_id = await _source_of(header_key or (body_key if isinstance(body_key, str) else None))
    messages = body.get("batch")
    if not isinstance(messages, list):
        return _error(
            400, "malformed", 'The body needs "batch": a list of messages.', [{"field": "batch"}]
        )
    if not messages:
        return _error(400, "malformed", 'The "batch" list is empty.', [{"field": "batch"}])
    defaults = {key: body[key] for key in ("context", "sentAt") if key in body}
    received_at = now()
    # A message can only be over 32 KB when the body is; otherwise skip measuring each one.
    measure = len(request.body) > MAX_MESSAGE_BYTES
    valid: list[Message] = []
    rejected: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        try:
            valid.append(
                validate_message(
                    message,
                    source_id=source_id,
                    received_at=received_at,
                    index=index,
                    defaults=defaults,
                    size=None if measure else 0,
                )
            )
        except MessageError as exc:
            rejected.append(exc.as_detail())
    if not valid:
        first = rejected[0]
        return _error(
            400,
            "invalid_message",
            f"None of the {len(messages)} messages is valid; nothing was stored. The first: "
            f"message {first['index']}: {first['field']}: {first['reason']}.",
            rejected,
        )
    refused = await _store(source_id, valid)
    if refused is not None:
        return refused
    return JsonResponse({"success": True, "accepted": len(valid), "rejected": rejected})
