"""How API callers prove who they are: an API token (Bearer) or the browser session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from c360.accounts.logic import authenticate_token


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return authenticate_token(token)


# Token first: a revoked or unknown token falls through to the session, which is anonymous
# for other systems, so the call is refused with 401.
token_or_session = [TokenAuth(), django_auth]
