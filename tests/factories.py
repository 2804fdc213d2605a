"""Short ways to set up users, data sources and grants in a test.

Users go through accounts.logic (so passwords are hashed and roles set the one way the app
does); sources and grants are written directly, so a test can build any state, including
ones the logic refuses to create, and then check how the app treats it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.db import OperationalError

from c360.accounts.logic import create_user
from c360.sources.models import DataSource, Grant, SourceKind, Visibility

if TYPE_CHECKING:
    from c360.analyses.models import AnalysisRun

PASSWORD = "correct-horse-battery-staple"

_serial = itertools.count(1)


def _next(prefix: str) -> str:
    return f"{prefix}{next(_serial)}"


def make_admin(username: str | None = None, *, password: str = PASSWORD, email: str = "") -> User:
    return create_user(
        username=username or _next("admin"), password=password, email=email, role="admin"
    )


def make_staff(username: str | None = None, *, password: str = PASSWORD, email: str = "") -> User:
    return create_user(
        username=username or _next("staff"), password=password, email=email, role="staff"
    )


def make_source(
    *,
    owner: User,
    name: str | None = None,
    kind: str = SourceKind.EVENTS,
    visibility: str = Visibility.PRIVATE,
    description: str = "",
) -> DataSource:
    return DataSource.objects.create(
        name=name or _next("source "),
        kind=kind,
        visibility=visibility,
        owner=owner,
        description=description,
    )


def grant(
    *,
    source: DataSource,
    user: User,
    can_import: bool = True,
    can_analyze: bool = True,
    granted_by: User | None = None,
) -> Grant:
    """Give `user` rights on `source` (both by default; switch one off to test the other)."""
    grant_obj, _ = Grant.objects.update_or_create(
        source=source,
        user=user,
        defaults={
            "can_import": can_import,
            "can_analyze": can_analyze,
            "granted_by": granted_by or source.owner,
        },
    )
    return grant_obj


def wait_for(
    run_id: int, done: Callable[[AnalysisRun], bool], *, timeout: float = 30
) -> AnalysisRun:
    """The analysis run once `done(run)` holds, or as it is when `timeout` seconds passed."""
    from c360.analyses.models import AnalysisRun

    deadline = time.monotonic() + timeout
    while True:
        try:
            run = AnalysisRun.objects.get(pk=run_id)
        except OperationalError as exc:  # the in-memory test database's shared cache
            if "locked" not in str(exc):  # reports a table a run is writing as locked
                raise
            time.sleep(0.05)
            continue
        if done(run) or time.monotonic() > deadline:
            return run
        time.sleep(0.1)
