"""Accounts API: who the caller is; staff accounts and API tokens (admins, browser session)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja import Router, Status

from c360.accounts import logic
from c360.accounts.auth import session_only, token_or_session
from c360.accounts.models import ApiToken
from c360.accounts.schemas import IssuedTokenOut, MeOut, TokenIn, TokenOut, UserIn, UserOut
from c360.sources.logic import NotAllowed, NotFound
from c360.web.errors import ErrorOut

router = Router(tags=["accounts"])

_REFUSALS: dict[int, type[ErrorOut]] = {401: ErrorOut, 403: ErrorOut}


def _admin(request: HttpRequest) -> User:
    """The logged-in admin behind a session-only request."""
    user = request.auth  # type: ignore[attr-defined]
    if not logic.is_admin(user):
        raise NotAllowed("only admins manage accounts and API tokens")
    return user  # type: ignore[no-any-return]


@router.get(
    "/me",
    response={200: MeOut, 401: ErrorOut},
    operation_id="me",
    auth=token_or_session,
)
def me(request: HttpRequest) -> MeOut:
    """Who: anyone logged in, and any active API token. Says who the caller is.

    A user comes with their role; a token with its scope (sources and permissions).
    """
    actor = request.auth  # type: ignore[attr-defined]
    if isinstance(actor, ApiToken):
        return MeOut(kind="token", token=TokenOut.of(actor))
    return MeOut(kind="user", user=UserOut.of(actor))


@router.get(
    "/users",
    response={200: list[UserOut], **_REFUSALS},
    operation_id="list_users",
    auth=session_only,
)
def list_users(request: HttpRequest) -> list[UserOut]:
    """Who: admins, logged in (API tokens are refused). Lists every account with its role."""
    _admin(request)
    return [UserOut.of(user) for user in User.objects.order_by("username")]


@router.post(
    "/users",
    response={201: UserOut, **_REFUSALS, 422: ErrorOut},
    operation_id="create_user",
    auth=session_only,
)
def create_user(request: HttpRequest, payload: UserIn) -> Status[UserOut]:
    """Who: admins, logged in (API tokens are refused). Creates a staff or admin account."""
    _admin(request)
    user = logic.create_user(
        username=payload.username,
        password=payload.password,
        email=payload.email,
        role=payload.role,
    )
    return Status(201, UserOut.of(user))


@router.get(
    "/tokens",
    response={200: list[TokenOut], **_REFUSALS},
    operation_id="list_tokens",
    auth=session_only,
)
def list_tokens(request: HttpRequest) -> list[TokenOut]:
    """Who: admins, logged in (API tokens are refused). Lists API tokens, never their secrets."""
    _admin(request)
    tokens = ApiToken.objects.select_related("created_by").prefetch_related("sources")
    return [TokenOut.of(token) for token in tokens]


@router.post(
    "/tokens",
    response={201: IssuedTokenOut, **_REFUSALS, 422: ErrorOut},
    operation_id="create_token",
    auth=session_only,
)
def create_token(request: HttpRequest, payload: TokenIn) -> Status[IssuedTokenOut]:
    """Who: admins, logged in (API tokens are refused). Issues a token scoped to sources.

    The answer holds the secret; it is stored hashed and no later answer shows it again.
    """
    admin = _admin(request)
    issued = logic.create_token(
        name=payload.name,
        created_by=admin,
        source_ids=payload.source_ids,
        permissions=list(payload.permissions),
    )
    listed = TokenOut.of(issued.token)
    return Status(201, IssuedTokenOut(**listed.model_dump(), secret=issued.secret))


@router.post(
    "/tokens/{token_id}/revoke",
    response={200: TokenOut, **_REFUSALS, 404: ErrorOut},
    operation_id="revoke_token",
    auth=session_only,
)
def revoke_token(request: HttpRequest, token_id: int) -> TokenOut:
    """Who: admins, logged in (API tokens are refused). Revokes a token; it stops working at once.

    Revoking a revoked token changes nothing.
    """
    _admin(request)
    token = ApiToken.objects.filter(pk=token_id).first()
    if token is None:
        raise NotFound(f"no API token {token_id}")
    logic.revoke_token(token=token)
    return TokenOut.of(token)
