"""How API callers prove who they are: an API token (Bearer) or the browser session."""

from __future__ import annotations

from typing import Any

import ninja.security
from django.http import HttpRequest
from ninja.security import HttpBearer

from c360.accounts.logic import authenticate_token


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return authenticate_token(token)


class SessionAuth(ninja.security.SessionAuth):
    """The browser session; CSRF is checked only when there is a logged-in session.

    Ninja's SessionAuth checks CSRF first, so a caller with no session (anonymous, or a
    revoked token falling through) would be told "CSRF check failed" instead of 401.
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)


session_only = [SessionAuth()]

# Token first: a revoked or unknown token falls through to the session, which is anonymous
# for other systems, so the call is refused with 401.
token_or_session = [TokenAuth(), SessionAuth()]
