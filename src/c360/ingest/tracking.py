"""The HTTP tracking API, compatible with the Segment spec: /v1/identify, /v1/track, /v1/page,
/v1/screen, /v1/group, /v1/alias and /v1/batch (also /v1/import).

Who: a client holding an active write key of an events source, sent as HTTP Basic user name
with an empty password (or, as the field's libraries also do, as `writeKey` in the body).

A plain ASGI application that c360.web.asgi puts in front of Django for the paths under /v1/:
this is the hot path of the server (hundreds of requests a second), and Django's handler
costs milliseconds a request of thread hops for middleware (sessions, CSRF, messages) that
a write key's request does not use. A request waits for the group commit on the event loop,
without holding a thread. Errors use the API's one shape,
`{"error": {"code", "message", "details"}}`. The answer is 200 only once the events are
committed (c360.ingest.stream).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import io
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any

import orjson
from asgiref.sync import sync_to_async

from c360.ingest.segment import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    Message,
    MessageError,
    now,
    parse_body,
    validate_message,
)
from c360.ingest.stream import Overloaded, Receipt, stream_writer

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_SINGLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# path -> (the message type it implies, None for a batch; its body limit in bytes)
_ROUTES: dict[str, tuple[str | None, int]] = {
    **{f"/v1/{kind}": (kind, MAX_MESSAGE_BYTES) for kind in _SINGLE_TYPES},
    "/v1/batch": (None, MAX_BATCH_BYTES),
    "/v1/import": (None, MAX_BATCH_BYTES),
}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="c360 tracking"'}


class Answer:
    """A JSON answer: status, body and extra headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Answer(status, body, headers)


# A request whose messages went to the writer: their commit, and the answer once it is done.
_Submitted = tuple["Future[Receipt]", Answer]


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


class _Request:
    """What a handler reads of an HTTP request: its headers (lower-case names) and body."""

    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        self.headers = headers
        self.body = body


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application of the paths under /v1/."""
    answer = await _answer(scope, receive)
    body = orjson.dumps(answer.body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in answer.headers.items()),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer(scope: Scope, receive: Receive) -> Answer:
    path = scope["path"].rstrip("/")
    route = _ROUTES.get(path)
    if route is None:
        return _error(
            404,
            "not_found",
            f"No tracking endpoint {path}: POST to /v1/identify, /v1/track, /v1/page, "
            "/v1/screen, /v1/group, /v1/alias or /v1/batch.",
        )
    if scope["method"] != "POST":
        return _error(
            405,
            "method_not_allowed",
            f"{scope['method']} is not allowed here: POST a JSON body.",
            headers={"Allow": "POST"},
        )
    kind, limit = route
    headers = {name.decode("latin-1").lower(): value.decode("latin-1")
               for name, value in scope["headers"]}  # fmt: skip
    try:
        request = _Request(headers, await _read_body(receive, headers, limit=limit))
        with stream_writer().arriving():
            handled = await (_batch(request) if kind is None else _single(request, kind))
        if isinstance(handled, Answer):
            return handled
        return await _stored(*handled)
    except _Refused as refused:
        return refused.answer


async def _read_body(receive: Receive, headers: dict[str, str], *, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is over `limit` bytes."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(_too_large(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refused(_error(400, "malformed", "The client went away before the body ended."))
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(_too_large(size, limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(size: int, limit: int) -> Answer:
    return _error(
        413,
        "too_large",
        f"The body is {size} bytes, over the limit of {limit} bytes ({limit // 1024} KB) "
        "for this endpoint.",
    )


def _basic_write_key(request: _Request) -> str | None:
    """The write key of an `Authorization: Basic` header (user name; the password is empty)."""
    header = request.headers.get("authorization", "")
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
                headers=_CHALLENGE,
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
                headers=_CHALLENGE,
            )
        ) from None
    return decoded.partition(":")[0].strip() or None


async def _source_of(write_key: str | None) -> int:
    from c360.sources.logic import cached_write_key, source_for_write_key

    if not write_key:
        raise _Refused(
            _error(
                401,
                "unauthenticated",
                "No write key: send the source's write key as HTTP Basic user name with an "
                "empty password.",
                headers=_CHALLENGE,
            )
        )
    known, source_id = cached_write_key(write_key)
    if not known:  # ask the metadata database, on a thread: the ORM is synchronous
        source_id = await sync_to_async(source_for_write_key)(write_key)
    if source_id is None:
        raise _Refused(
            _error(
                401,
                "unauthenticated",
                "The write key is not known or has been revoked; create one on the source's page.",
                headers=_CHALLENGE,
            )
        )
    return source_id


def _body(request: _Request, *, limit: int) -> Any:
    """The decoded JSON body within `limit` bytes (after gzip, when sent compressed)."""
    raw = request.body
    encoding = request.headers.get("content-encoding", "").strip().lower()
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
        raise _Refused(_too_large(len(raw), limit))
    try:
        return parse_body(raw, limit=limit)
    except ValueError as exc:
        raise _Refused(_error(400, "malformed", f"{str(exc)[0].upper()}{str(exc)[1:]}.")) from None


def _gunzip(raw: bytes, *, limit: int) -> bytes:
    """Decompress at most limit + 1 bytes: a small bomb must not fill the memory."""
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
        return unzipped.read(limit + 1)


def _submit(source_id: int, messages: list[Message]) -> Future[Receipt]:
    """Hand the messages to the group-commit writer (_stored waits for the commit)."""
    try:
        return stream_writer().submit(source_id=source_id, messages=messages)
    except Overloaded as exc:
        raise _Refused(
            _error(
                429,
                "overloaded",
                f"The server is taking in more events than it can store right now; nothing of "
                f"this request was stored. Retry after {exc.retry_after} s.",
                headers={"Retry-After": str(exc.retry_after)},
            )
        ) from None


async def _stored(future: Future[Receipt], answer: Answer) -> Answer:
    """`answer` once the submitted messages are committed; 503 when they could not be."""
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
    return answer


async def _single(request: _Request, kind: str) -> Answer | _Submitted:
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
    return _submit(source_id, [valid]), Answer(
        200, {"success": True, "accepted": 1, "rejected": []}
    )


async def _batch(request: _Request) -> Answer | _Submitted:
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
    answer = Answer(200, {"success": True, "accepted": len(valid), "rejected": rejected})
    return _submit(source_id, valid), answer
