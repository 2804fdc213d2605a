"""State changes of data sources, grants, mappings and import batches.

Views and API handlers validate their input, then call these functions; the permission
check happens here too, so no caller can forget it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from c360.accounts.logic import is_admin
from c360.identity.logic import refresh_identity
from c360.sources.models import (
    BatchStatus,
    ColumnMapping,
    DataSource,
    Grant,
    ImportBatch,
    ImportMode,
    SourceKind,
    Visibility,
    WriteKey,
)
from c360.sources.permissions import Actor, actor_user, can

log = logging.getLogger("c360.sources")


class NotAllowed(PermissionError):
    """The actor may not do this; the message says what is missing."""


class NotFound(LookupError):
    pass


def require(actor: Actor, action: str, source: DataSource) -> None:
    if not can(actor, action, source):  # type: ignore[arg-type]
        if not can(actor, "view", source):
            # Do not reveal that a source the actor may not see exists.
            raise NotFound(f"no data source {source.pk}")
        raise NotAllowed(f"you need the {action!r} permission on data source {source.name!r}")


def get_source(actor: Actor, source_id: int, *, action: str = "view") -> DataSource:
    source = DataSource.objects.filter(pk=source_id).first()
    if source is None:
        raise NotFound(f"no data source {source_id}")
    require(actor, action, source)
    return source


# -- sources and grants -----------------------------------------------------------------
def create_source(
    *, actor: User, name: str, kind: str, visibility: str = "private", description: str = ""
) -> DataSource:
    """Admins create any source; staff create private sources that only they see."""
    name = name.strip()
    if not name:
        raise ValueError("name: a data source needs a name")
    if kind not in SourceKind.values:
        raise ValueError(f"kind: expected one of {SourceKind.values}, got {kind!r}")
    if visibility not in Visibility.values:
        raise ValueError(f"visibility: expected one of {Visibility.values}, got {visibility!r}")
    if not actor.is_authenticated:
        raise NotAllowed("log in to create a data source")
    if visibility == Visibility.PUBLIC and not is_admin(actor):
        raise NotAllowed("only admins create public data sources; staff sources are private")
    if DataSource.objects.filter(name__iexact=name).exists():
        raise ValueError(f"name: a data source called {name!r} exists already")
    return DataSource.objects.create(
        name=name, kind=kind, visibility=visibility, owner=actor, description=description
    )


def update_source(
    *,
    actor: User,
    source: DataSource,
    description: str | None = None,
    visibility: str | None = None,
) -> DataSource:
    require(actor, "manage", source)
    if visibility is not None:
        if visibility not in Visibility.values:
            raise ValueError(f"visibility: expected one of {Visibility.values}")
        if visibility == Visibility.PUBLIC and not is_admin(actor):
            raise NotAllowed("only admins make a data source public")
        source.visibility = visibility
    if description is not None:
        source.description = description
    source.save()
    return source


def set_grant(
    *, actor: User, source: DataSource, user: User, can_import: bool, can_analyze: bool
) -> Grant | None:
    """Give (or with both False, take back) a staff member's rights on a source."""
    if not is_admin(actor) and source.owner_id != actor.pk:
        raise NotAllowed("only admins and the source's owner grant rights on it")
    if not can_import and not can_analyze:
        Grant.objects.filter(source=source, user=user).delete()
        return None
    grant, _ = Grant.objects.update_or_create(
        source=source,
        user=user,
        defaults={"can_import": can_import, "can_analyze": can_analyze, "granted_by": actor},
    )
    return grant


# -- write keys of the HTTP tracking API -------------------------------------------------
WRITE_KEY_PREFIX = "c360wk_"  # noqa: S105 (a public marker, not a secret)
# How long a checked write key is trusted without asking the metadata database again. A key
# revoked in this process is forgotten at once; the delay only matters with several servers.
_WRITE_KEY_TTL = 10.0
_write_keys: dict[str, tuple[float, int | None]] = {}  # key hash -> (checked at, source id)
_write_keys_lock = threading.Lock()


@dataclass(frozen=True)
class IssuedWriteKey:
    write_key: WriteKey
    secret: str  # shown once, never stored


def _key_hash(secret: str) -> str:
    # 192 random bits: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_write_key(*, actor: User, source: DataSource, name: str) -> IssuedWriteKey:
    """A new write key for an events source; admins and the source's owner only."""
    require(actor, "manage", source)
    if source.kind != SourceKind.EVENTS:
        raise ValueError(
            f"the tracking API writes events; {source.name!r} is a {source.kind} source"
        )
    name = name.strip()
    if not name:
        raise ValueError("name: say what the write key is for (e.g. 'web shop')")
    prefix = secrets.token_hex(4)
    secret = f"{WRITE_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    key = WriteKey.objects.create(
        source=source, name=name[:100], prefix=prefix, key_hash=_key_hash(secret), created_by=actor
    )
    return IssuedWriteKey(write_key=key, secret=secret)


def revoke_write_key(*, actor: User, write_key: WriteKey) -> WriteKey:
    """Refuse the key from now on; admins and the source's owner only."""
    require(actor, "manage", write_key.source)
    if write_key.revoked_at is None:
        write_key.revoked_at = timezone.now()
        write_key.revoked_by = actor
        write_key.save(update_fields=["revoked_at", "revoked_by"])
    with _write_keys_lock:
        _write_keys.pop(write_key.key_hash, None)
    return write_key


def cached_write_key(secret: str) -> tuple[bool, int | None]:
    """(known, source id) of a write key from what this process checked lately, without
    asking the database: known is False when source_for_write_key must be asked."""
    if not secret.startswith(WRITE_KEY_PREFIX):
        return True, None
    with _write_keys_lock:
        cached = _write_keys.get(_key_hash(secret))
    if cached is not None and time.monotonic() - cached[0] < _WRITE_KEY_TTL:
        return True, cached[1]
    return False, None


def source_for_write_key(secret: str) -> int | None:
    """The id of the source an active write key writes to, or None."""
    known, source_id = cached_write_key(secret)
    if known:
        return source_id
    digest = _key_hash(secret)
    now = time.monotonic()
    found = (
        WriteKey.objects.filter(key_hash=digest, revoked_at__isnull=True)
        .values_list("source_id", flat=True)
        .first()
    )
    with _write_keys_lock:
        if len(_write_keys) > 10_000:  # guessed keys must not grow the cache without end
            _write_keys.clear()
        _write_keys[digest] = (now, found)
    return found


# -- column mappings --------------------------------------------------------------------
def save_mapping(*, actor: User, name: str, kind: str, spec: dict[str, Any]) -> ColumnMapping:
    """Save (or replace) a named mapping for a source kind, after validating it."""
    from c360.ingest.mapping import Mapping

    name = name.strip()
    if not name:
        raise ValueError("name: a mapping needs a name")
    mapping = Mapping.from_spec(kind=kind, spec=spec)  # raises ValueError on a bad spec
    existing = ColumnMapping.objects.filter(kind=kind, name=name).first()
    if existing is not None and existing.created_by_id != actor.pk and not is_admin(actor):
        raise NotAllowed(f"the mapping {name!r} belongs to someone else; save it under a new name")
    saved, _ = ColumnMapping.objects.update_or_create(
        kind=kind, name=name, defaults={"spec": mapping.to_spec(), "created_by": actor}
    )
    return saved


def get_mapping(*, kind: str, name: str) -> ColumnMapping:
    found = ColumnMapping.objects.filter(kind=kind, name=name).first()
    if found is None:
        raise NotFound(f"no saved mapping {name!r} for {kind} sources")
    return found


# -- imports ----------------------------------------------------------------------------
ProgressCallback = Callable[[ImportBatch], None]


def upload_dir() -> Path:
    path = Path(settings.C360_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_batch(
    *,
    actor: Actor,
    source: DataSource,
    file_name: str,
    file_size: int,
    mode: str = ImportMode.STRICT,
    mapping_name: str = "",
) -> ImportBatch:
    """Record an import as pending, before any of its rows reach the warehouse."""
    from c360.accounts.models import ApiToken

    require(actor, "import", source)
    if mode not in ImportMode.values:
        raise ValueError(f"mode: expected strict or lenient, got {mode!r}")
    return ImportBatch.objects.create(
        source=source,
        created_by=actor_user(actor),
        api_token=actor if isinstance(actor, ApiToken) else None,
        file_name=Path(file_name).name[:255] or "upload",
        file_size=file_size,
        mode=mode,
        mapping_name=mapping_name,
    )


def run_import(
    *,
    batch: ImportBatch,
    path: Path,
    mapping_spec: dict[str, Any] | None = None,
    delimiter: str | None = None,
    on_progress: ProgressCallback | None = None,
    discard_file: bool = False,
) -> ImportBatch:
    """Validate and land the file of a pending batch; the batch records the outcome.

    `discard_file` deletes the file afterwards: uploads are ours to remove, a file named on
    the command line is not.
    """
    from c360.ingest.importer import import_file

    try:
        batch = import_file(
            batch=batch,
            path=path,
            mapping_spec=mapping_spec,
            delimiter=delimiter,
            on_progress=on_progress,
        )
    finally:
        if discard_file:
            path.unlink(missing_ok=True)
    if batch.status == BatchStatus.DONE and batch.rows_inserted:
        # The rows have landed; the people they belong to are linked next. The batch page
        # shows this stage until the identity map includes the batch.
        _set_stage(batch, "linking people", on_progress)
        problem = refresh_identity(batch_ids=[batch.pk])
        if problem:
            # The rows stay imported; the page says the people are not linked yet.
            batch.error = problem + "; the rows are imported, the next update links them."
            ImportBatch.objects.filter(pk=batch.pk).update(error=batch.error)
        _set_stage(batch, "people not linked" if problem else "done", on_progress)
    return batch


def _set_stage(batch: ImportBatch, stage: str, on_progress: ProgressCallback | None) -> None:
    batch.stage = stage
    ImportBatch.objects.filter(pk=batch.pk).update(stage=stage)
    if on_progress is not None:
        on_progress(batch)


def start_import_in_background(
    *,
    batch: ImportBatch,
    path: Path,
    mapping_spec: dict[str, Any] | None = None,
    delimiter: str | None = None,
) -> threading.Thread:
    """Run the import of an upload on a thread of the server process (the single writer).

    The uploaded file is deleted when the import ends.
    """

    def work() -> None:
        try:
            run_import(
                batch=batch,
                path=path,
                mapping_spec=mapping_spec,
                delimiter=delimiter,
                discard_file=True,
            )
        except Exception:  # recorded on the batch by import_file; keep the thread quiet
            log.exception("import batch %s failed", batch.pk)
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=work, name=f"import-{batch.pk}", daemon=True)
    thread.start()
    return thread


def rollback_batch(*, actor: Actor, batch: ImportBatch) -> ImportBatch:
    """Delete exactly the batch's rows from the warehouse, and log who did it."""
    from c360.warehouse import get_warehouse

    require(actor, "import", batch.source)
    if batch.status != BatchStatus.DONE:
        raise ValueError(f"only an imported batch can be rolled back; this one is {batch.status}")
    with get_warehouse().writer() as writer:
        removed = writer.delete_batches([batch.pk])
    with transaction.atomic():
        batch.status = BatchStatus.ROLLED_BACK
        batch.rolled_back_at = timezone.now()
        batch.rolled_back_by = actor_user(actor)
        # records removed; the identifiers that came with them are bookkeeping
        batch.rows_removed = sum(n for table, n in removed.items() if table != "identifiers")
        batch.save(update_fields=["status", "rolled_back_at", "rolled_back_by", "rows_removed"])
    log.info("batch %s rolled back: %s rows removed", batch.pk, batch.rows_removed)
    refresh_identity(batch_ids=[batch.pk])
    return batch


def recover_pending_batches() -> int:
    """On start: remove the rows of batches a crash left pending, so none stays half-landed."""
    from c360.warehouse import get_warehouse

    stale = list(ImportBatch.objects.filter(status__in=[BatchStatus.PENDING, BatchStatus.RUNNING]))
    if not stale:
        return 0
    with get_warehouse().writer() as writer:
        removed = writer.delete_batches([b.pk for b in stale])
    for batch in stale:
        batch.status = BatchStatus.FAILED
        batch.error = "The server stopped during this import; nothing of it was kept."
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "error", "finished_at"])
    if any(removed.values()):
        refresh_identity(batch_ids=[b.pk for b in stale])
    return len(stale)
