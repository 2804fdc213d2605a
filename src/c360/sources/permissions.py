"""Who may see, import into and analyse a data source.

An actor is a user (session) or an API token. Rules:
- admins may do everything;
- a source's owner may do everything with it;
- staff see public sources, their own, and any source they hold a grant on;
- importing or analysing needs a grant (`import` / `analyze`), whatever the visibility;
- a token may act only on its own sources, only with its own permissions, until revoked.
"""

from __future__ import annotations

from typing import Literal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Q, QuerySet

from c360.accounts.logic import is_admin
from c360.accounts.models import ApiToken
from c360.sources.models import DataSource, Grant, Visibility

Action = Literal["view", "import", "analyze", "manage"]
Actor = AbstractBaseUser | AnonymousUser | ApiToken | None


def visible_sources(actor: Actor) -> QuerySet[DataSource]:
    if isinstance(actor, ApiToken):
        if not actor.is_active:
            return DataSource.objects.none()
        return actor.sources.all()
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return DataSource.objects.none()
    if is_admin(actor):
        return DataSource.objects.all()
    return DataSource.objects.filter(
        Q(visibility=Visibility.PUBLIC) | Q(owner_id=actor.pk) | Q(grants__user_id=actor.pk)
    ).distinct()


def can(actor: Actor, action: Action, source: DataSource) -> bool:
    if isinstance(actor, ApiToken):
        return (
            actor.is_active
            and action in {"view", "import", "analyze"}
            and (action == "view" or action in actor.permissions)
            and actor.sources.filter(pk=source.pk).exists()
        )
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    if is_admin(actor) or source.owner_id == actor.pk:
        return True
    if action == "manage":
        return False
    grant = Grant.objects.filter(source=source, user_id=actor.pk).first()
    if action == "view":
        return source.visibility == Visibility.PUBLIC or grant is not None
    if grant is None:
        return False
    return grant.can_import if action == "import" else grant.can_analyze


def actor_user(actor: Actor) -> User | None:
    """The user behind an actor, for the import log (None for a token)."""
    if isinstance(actor, User) and actor.is_authenticated:
        return actor
    return None
