"""Accounts: roles, staff accounts and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from c360.accounts.models import PERMISSIONS, ApiToken

TOKEN_PREFIX = "c360_"  # noqa: S105 (a public marker, not a secret)
# last_used_at is written at most this often, so a busy token does not write on every call.
_LAST_USED_GRANULARITY = timedelta(seconds=30)


def is_admin(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    # AbstractBaseUser has no is_superuser; the users here are Django's, which do.
    is_superuser = getattr(user, "is_superuser", False)
    return bool(user and user.is_authenticated and user.is_active and is_superuser)


def role_of(user: User) -> str:
    return "admin" if user.is_superuser else "staff"


def create_user(*, username: str, password: str, email: str = "", role: str = "staff") -> User:
    """Create an account; admins may use the Django admin too."""
    if role not in {"admin", "staff"}:
        raise ValueError(f"role must be admin or staff, not {role!r}")
    if User.objects.filter(username=username).exists():
        raise ValueError(f"the user name {username!r} is taken")
    user = User.objects.create_user(username=username, email=email, password=password)
    if role == "admin":
        user.is_superuser = True
        user.is_staff = True  # Django admin access
        user.save(update_fields=["is_superuser", "is_staff"])
    return user


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def _hash(secret: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_token(
    *, name: str, created_by: User, source_ids: list[int], permissions: list[str]
) -> IssuedToken:
    from c360.sources.models import DataSource

    if not is_admin(created_by):
        raise PermissionError("only admins create API tokens")
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown or not permissions:
        raise ValueError(f"permissions must be a non-empty subset of {list(PERMISSIONS)}")
    sources = list(DataSource.objects.filter(id__in=source_ids))
    missing = sorted(set(source_ids) - {s.id for s in sources})
    if missing or not source_ids:
        raise ValueError(f"unknown data sources: {missing}" if missing else "name a data source")
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        name=name,
        prefix=prefix,
        token_hash=_hash(secret),
        permissions=sorted(set(permissions)),
        created_by=created_by,
    )
    token.sources.set(sources)
    return IssuedToken(token=token, secret=secret)


def revoke_token(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def authenticate_token(secret: str) -> ApiToken | None:
    """The active token for `secret`, or None; records when it was last used."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.filter(token_hash=_hash(secret), revoked_at__isnull=True).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
