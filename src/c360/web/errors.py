"""One error shape for the whole API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

import pydantic
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from c360.ingest.files import FileProblem
from c360.sources.logic import NotAllowed, NotFound


class ErrorDetail(Schema):
    code: str
    message: str
    details: list[dict[str, Any]] = []


class ErrorOut(Schema):
    error: ErrorDetail


class ApiError(Exception):
    """Raised by API handlers and logic to answer with a given status and code."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    *,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return api.create_response(request, body, status=status)


def install(api: NinjaAPI) -> None:
    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(
            api, request, status=exc.status, code=exc.code, message=exc.message, details=exc.details
        )

    # Logic raises plain exceptions; they become the one error shape here, so no handler
    # has to catch them. FileProblem is a ValueError, and the most specific class wins.
    @api.exception_handler(NotFound)
    def _not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return error_response(api, request, status=404, code="not_found", message=str(exc))

    @api.exception_handler(NotAllowed)
    def _not_allowed(request: HttpRequest, exc: NotAllowed) -> HttpResponse:
        return error_response(api, request, status=403, code="forbidden", message=str(exc))

    @api.exception_handler(FileProblem)
    def _bad_file(request: HttpRequest, exc: FileProblem) -> HttpResponse:
        return error_response(api, request, status=422, code="bad_file", message=str(exc))

    @api.exception_handler(ValueError)
    def _invalid(request: HttpRequest, exc: ValueError) -> HttpResponse:
        if isinstance(exc, pydantic.ValidationError):
            # A response that fails its own schema is a bug of ours, not a bad request.
            raise exc
        return error_response(api, request, status=422, code="invalid", message=str(exc))

    @api.exception_handler(ValidationError)
    def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = [
            {"where": ".".join(str(p) for p in err.get("loc", [])), "reason": err.get("msg", "")}
            for err in exc.errors
        ]
        return error_response(
            api,
            request,
            status=422,
            code="invalid_request",
            message="The request is not valid: "
            + "; ".join(f"{d['where']}: {d['reason']}" for d in details),
            details=details,
        )

    @api.exception_handler(AuthenticationError)
    def _auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            api,
            request,
            status=401,
            code="unauthenticated",
            message="Log in, or send an API token as 'Authorization: Bearer <token>'.",
        )

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(
            api, request, status=exc.status_code, code="http_error", message=str(exc)
        )
