"""What the accounts API accepts and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.contrib.auth.models import User
from ninja import Field, Schema

from c360.accounts.logic import role_of
from c360.accounts.models import ApiToken

Role = Literal["admin", "staff"]
Permission = Literal["import", "analyze"]


class UserOut(Schema):
    id: int
    username: str
    email: str
    role: Role
    is_active: bool
    date_joined: datetime
    last_login: datetime | None

    @staticmethod
    def of(user: User) -> UserOut:
        return UserOut(
            id=user.pk,
            username=user.username,
            email=user.email,
            role=role_of(user),  # type: ignore[arg-type]
            is_active=user.is_active,
            date_joined=user.date_joined,
            last_login=user.last_login,
        )


class UserIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=8)
    email: str = ""
    role: Role = "staff"


class TokenOut(Schema):
    """A token as listed: its scope and use, never its secret."""

    id: int
    name: str
    prefix: str = Field(description="The first characters after 'c360_', to recognise a token.")
    permissions: list[Permission]
    source_ids: list[int]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    is_active: bool

    @staticmethod
    def of(token: ApiToken) -> TokenOut:
        return TokenOut(
            id=token.pk,
            name=token.name,
            prefix=token.prefix,
            permissions=token.permissions,
            source_ids=sorted(token.sources.values_list("pk", flat=True)),
            created_by=token.created_by.get_username(),
            created_at=token.created_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
            is_active=token.is_active,
        )


class IssuedTokenOut(TokenOut):
    secret: str = Field(
        description="Send as 'Authorization: Bearer <secret>'. Shown in this answer only."
    )


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    source_ids: list[int] = Field(min_length=1)
    permissions: list[Permission] = Field(min_length=1)


class MeOut(Schema):
    """The caller: a logged-in user, or an API token with its scope."""

    kind: Literal["user", "token"]
    user: UserOut | None = None
    token: TokenOut | None = None
