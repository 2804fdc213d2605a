"""Sources API: data sources, grants, file imports and their log, column mappings."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

from django.contrib.auth.models import User
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.http import FileResponse, HttpRequest
from ninja import Body, Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from c360.accounts.auth import token_or_session
from c360.accounts.models import ApiToken
from c360.sources import logic
from c360.sources.logic import NotAllowed, NotFound
from c360.sources.models import ColumnMapping, Grant, ImportBatch
from c360.sources.permissions import Actor, visible_sources
from c360.sources.schemas import (
    BatchOut,
    GrantIn,
    GrantOut,
    ImportForm,
    Kind,
    MappingIn,
    MappingOut,
    PreviewForm,
    PreviewOut,
    RowErrorOut,
    SourceIn,
    SourceOut,
    SourcePatch,
    SuggestionOut,
)
from c360.web.errors import ErrorOut

router = Router(tags=["sources"], auth=token_or_session)

_LIST = {401: ErrorOut}
# What the caller may not see is answered 404, never 403: it does not reveal that it exists.
_SEE = {401: ErrorOut, 404: ErrorOut}
_ONE = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}
_CHANGE = {**_ONE, 422: ErrorOut}


# -- helpers: who is asking, what they point at -------------------------------------------
def _actor(request: HttpRequest) -> Actor:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _user(request: HttpRequest) -> User:
    """The logged-in user; API tokens act on their sources but do not administer them."""
    actor = _actor(request)
    if isinstance(actor, ApiToken):
        raise NotAllowed(
            "API tokens may only read, import into and analyse their sources; log in to do this"
        )
    return actor  # type: ignore[return-value]


def _batch(actor: Actor, batch_id: int, *, action: str) -> ImportBatch:
    batch = ImportBatch.objects.select_related("source").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound(f"no import batch {batch_id}")
    try:
        logic.require(actor, action, batch.source)
    except NotFound:
        # Same answer as for a batch that does not exist: its source is not the caller's to see.
        raise NotFound(f"no import batch {batch_id}") from None
    return batch


def _mapping_spec(*, kind: str, name: str | None, spec_json: str | None) -> dict[str, Any] | None:
    """The mapping chosen in the form, checked before anything is recorded; None to suggest."""
    from c360.ingest.mapping import Mapping

    if name and spec_json:
        raise ValueError("mapping: give a saved mapping's name or a mapping_spec, not both")
    if name:
        return dict(logic.get_mapping(kind=kind, name=name).spec)
    if not spec_json:
        return None
    try:
        spec = json.loads(spec_json)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"mapping_spec: not valid JSON ({exc.msg} at character {exc.pos})"
        ) from None
    if not isinstance(spec, dict):
        raise ValueError("mapping_spec: expected a JSON object")
    Mapping.from_spec(kind=kind, spec=spec)  # raises ValueError naming what is wrong
    return spec


def _keep_upload(upload: UploadedFile, *, prefix: str) -> Path:
    """Move the upload into the upload dir under a name of ours, keeping its extension.

    The upload is already on disk (FILE_UPLOAD_MAX_MEMORY_SIZE = 0, in the upload dir), so
    this is a rename: the file is never read into memory.
    """
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.name or "upload").name)[-100:]
    path = logic.upload_dir() / f"{prefix}-{uuid.uuid4().hex[:12]}-{safe_name}"
    if isinstance(upload, TemporaryUploadedFile):
        shutil.move(upload.temporary_file_path(), path)
    else:  # a small in-memory upload, when the settings allow one
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
    return path


def _delimiter(value: str | None) -> str | None:
    return value or None


# -- data sources ---------------------------------------------------------------------------
@router.get("/sources", response={200: list[SourceOut], **_LIST}, operation_id="list_sources")
def list_sources(request: HttpRequest) -> list[SourceOut]:
    """Who: anyone logged in, and API tokens. Lists the sources the caller may see.

    Admins see all; staff see public sources, their own and those granted to them; a token
    sees its own sources.
    """
    actor = _actor(request)
    sources = visible_sources(actor).select_related("owner")
    return [SourceOut.of(source, actor) for source in sources]


@router.post(
    "/sources",
    response={201: SourceOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    operation_id="create_source",
)
def create_source(request: HttpRequest, payload: SourceIn) -> Status[SourceOut]:
    """Who: admins (any visibility) and staff (private sources), logged in; not API tokens.

    The creator owns the source and may import into and analyse it.
    """
    user = _user(request)
    source = logic.create_source(
        actor=user,
        name=payload.name,
        kind=payload.kind,
        visibility=payload.visibility,
        description=payload.description,
    )
    return Status(201, SourceOut.of(source, user))


@router.get("/sources/{source_id}", response={200: SourceOut, **_SEE}, operation_id="get_source")
def get_source(request: HttpRequest, source_id: int) -> SourceOut:
    """Who: whoever may see the source (see list_sources). Others get 404."""
    actor = _actor(request)
    return SourceOut.of(logic.get_source(actor, source_id), actor)


@router.patch(
    "/sources/{source_id}", response={200: SourceOut, **_CHANGE}, operation_id="update_source"
)
def update_source(request: HttpRequest, source_id: int, payload: SourcePatch) -> SourceOut:
    """Who: admins and the source's owner. Changes its description or visibility.

    Only admins make a source public.
    """
    actor = _actor(request)
    source = logic.get_source(actor, source_id, action="manage")
    source = logic.update_source(
        actor=_user(request),
        source=source,
        description=payload.description,
        visibility=payload.visibility,
    )
    return SourceOut.of(source, actor)


@router.get(
    "/sources/{source_id}/grants",
    response={200: list[GrantOut], **_ONE},
    operation_id="list_grants",
)
def list_grants(request: HttpRequest, source_id: int) -> list[GrantOut]:
    """Who: admins and the source's owner. Lists the staff granted rights on the source."""
    source = logic.get_source(_actor(request), source_id, action="manage")
    grants = Grant.objects.filter(source=source).select_related("user", "granted_by")
    return [GrantOut.of(grant) for grant in grants.order_by("user__username")]


@router.put(
    "/sources/{source_id}/grants/{user_id}",
    response={200: GrantOut, **_CHANGE},
    operation_id="set_grant",
)
def set_grant(request: HttpRequest, source_id: int, user_id: int, payload: GrantIn) -> GrantOut:
    """Who: admins and the source's owner. Sets a staff member's import/analyze rights.

    Both false takes the grant away.
    """
    source = logic.get_source(_actor(request), source_id, action="manage")
    grantee = User.objects.filter(pk=user_id).first()
    if grantee is None:
        raise NotFound(f"no user {user_id}")
    grant = logic.set_grant(
        actor=_user(request),
        source=source,
        user=grantee,
        can_import=payload.can_import,
        can_analyze=payload.can_analyze,
    )
    if grant is None:
        return GrantOut(
            user_id=grantee.pk,
            username=grantee.get_username(),
            can_import=False,
            can_analyze=False,
            granted_by=None,
            granted_at=None,
        )
    return GrantOut.of(grant)


# -- imports --------------------------------------------------------------------------------
@router.post(
    "/sources/{source_id}/imports",
    response={201: BatchOut, 202: BatchOut, **_CHANGE},
    operation_id="import_file",
)
def import_file(
    request: HttpRequest,
    source_id: int,
    file: File[UploadedFile],
    form: Form[ImportForm],
) -> Status[BatchOut]:
    """Who: admins, the owner, staff with the import grant, tokens with `import` on the source.

    Uploads a file (CSV, JSON Lines, JSON array, Parquet, or gzip of these) and imports it as
    one batch. With wait=true the answer (201) comes when the batch has finished; with
    wait=false it comes at once (202) and GET /api/imports/{id} follows the progress.

    A file that cannot be imported (bad format, missing columns, bad rows in strict mode) is
    still a logged batch: the answer is 201 (or 202) with status "rejected" and the reason in
    `error` and `errors_sample`. 422 means the request itself is wrong (no file, a bad
    mapping_spec, both mapping and mapping_spec) and 404 that the source or the named saved
    mapping does not exist; then no batch is recorded.
    """
    actor = _actor(request)
    source = logic.get_source(actor, source_id, action="import")
    spec = _mapping_spec(kind=source.kind, name=form.mapping, spec_json=form.mapping_spec)
    path = _keep_upload(file, prefix="import")
    try:
        batch = logic.create_batch(
            actor=actor,
            source=source,
            file_name=file.name or path.name,
            file_size=file.size or path.stat().st_size,
            mode=form.mode,
            mapping_name=form.mapping or "",
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    delimiter = _delimiter(form.delimiter)
    if form.wait:
        batch = logic.run_import(
            batch=batch, path=path, mapping_spec=spec, delimiter=delimiter, discard_file=True
        )
        return Status(201, BatchOut.of(batch))
    logic.start_import_in_background(batch=batch, path=path, mapping_spec=spec, delimiter=delimiter)
    return Status(202, BatchOut.of(batch))


class EventsQuery(Schema):
    mode: Literal["strict", "lenient"] = Field(
        "strict",
        description="strict: any bad row rejects them all; lenient: good rows land, bad rows "
        "are reported.",
    )


MAX_POSTED_ROWS = 10_000


@router.post(
    "/sources/{source_id}/events",
    response={201: BatchOut, **_CHANGE},
    operation_id="post_events",
)
def post_events(
    request: HttpRequest,
    source_id: int,
    rows: Body[dict[str, Any] | list[dict[str, Any]]],
    query: Query[EventsQuery],
) -> Status[BatchOut]:
    """Who: admins, the owner, staff with the import grant, tokens with `import` on the source.

    Takes one row, or a list of up to 10,000 rows, in the journey field format of an events
    source (customer_id, action_type, time, channel, ...: the columns a file import maps
    without a mapping) and lands them as one batch, validated exactly as a file import is.
    The answer (201) comes once the batch has finished: status "done", or "rejected" with the
    reason in `error` and `errors_sample` (row numbers count from 1 in the list). 422 when the
    body is not a row or a list of rows.
    """
    actor = _actor(request)
    source = logic.get_source(actor, source_id, action="import")
    if source.kind != "events":
        raise ValueError(f"{source.name!r} is a {source.kind} source; this takes events")
    listed = [rows] if isinstance(rows, dict) else rows
    if not listed:
        raise ValueError("rows: send one row (an object) or a non-empty list of rows")
    if len(listed) > MAX_POSTED_ROWS:
        raise ValueError(
            f"rows: {len(listed)} rows, over the limit of {MAX_POSTED_ROWS} per request; "
            "import a file for more"
        )
    path = logic.upload_dir() / f"events-{uuid.uuid4().hex[:12]}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for row in listed:
            out.write(json.dumps(row, default=str) + "\n")
    try:
        batch = logic.create_batch(
            actor=actor,
            source=source,
            file_name=f"POST /api/sources/{source.pk}/events",
            file_size=path.stat().st_size,
            mode=query.mode,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    batch = logic.run_import(batch=batch, path=path, discard_file=True)
    return Status(201, BatchOut.of(batch))


@router.post(
    "/sources/{source_id}/imports/preview",
    response={200: PreviewOut, **_CHANGE},
    operation_id="preview_file",
)
def preview_file(
    request: HttpRequest,
    source_id: int,
    file: File[UploadedFile],
    form: Form[PreviewForm],
) -> PreviewOut:
    """Who: whoever may import into the source (see import_file). Nothing lands.

    Shows the file's columns, the mapping that would apply, the first rows as they would be
    stored and the errors found in them. A file that cannot be read at all is 422 `bad_file`.
    """
    from c360.ingest.importer import preview_file as preview

    source = logic.get_source(_actor(request), source_id, action="import")
    spec = _mapping_spec(kind=source.kind, name=form.mapping, spec_json=form.mapping_spec)
    path = _keep_upload(file, prefix="preview")
    try:
        result = preview(
            path=path,
            kind=source.kind,
            mapping_spec=spec,
            delimiter=_delimiter(form.delimiter),
            limit=form.limit,
        )
    finally:
        path.unlink(missing_ok=True)
    return PreviewOut(
        file_format=result.file_format,
        columns=result.columns,
        mapping=result.mapping,
        rows=result.rows,
        errors=[RowErrorOut(row=e.row, column=e.column, reason=e.reason) for e in result.errors],
        rows_read=result.rows_read,
        rows_rejected=result.rows_rejected,
    )


@router.get(
    "/sources/{source_id}/imports",
    response={200: list[BatchOut], **_SEE},
    operation_id="list_imports",
)
def list_imports(request: HttpRequest, source_id: int, limit: int = 100) -> list[BatchOut]:
    """Who: whoever may see the source. Its import log, newest first."""
    source = logic.get_source(_actor(request), source_id)
    limit = max(1, min(limit, 1000))
    batches = ImportBatch.objects.filter(source=source).select_related(
        "source", "created_by", "rolled_back_by"
    )
    return [BatchOut.of(batch) for batch in batches[:limit]]


@router.get("/imports/{batch_id}", response={200: BatchOut, **_SEE}, operation_id="get_import")
def get_import(request: HttpRequest, batch_id: int) -> BatchOut:
    """Who: whoever may see the batch's source. One import: status, progress and counts."""
    return BatchOut.of(_batch(_actor(request), batch_id, action="view"))


@router.post(
    "/imports/{batch_id}/rollback",
    response={200: BatchOut, **_CHANGE},
    operation_id="rollback_import",
)
def rollback_import(request: HttpRequest, batch_id: int) -> BatchOut:
    """Who: whoever may import into the batch's source. Deletes exactly the batch's rows.

    Only a batch with status "done" can be rolled back (422 otherwise); the rollback is logged
    on the batch.
    """
    actor = _actor(request)
    batch = _batch(actor, batch_id, action="import")
    return BatchOut.of(logic.rollback_batch(actor=actor, batch=batch))


@router.get(
    "/imports/{batch_id}/rejected.csv",
    response=_ONE,
    operation_id="download_rejected_rows",
    url_name="rejected_rows",
    openapi_extra={
        "responses": {
            200: {
                "description": "The rejected rows with their row number and reason.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def download_rejected_rows(request: HttpRequest, batch_id: int) -> FileResponse:
    """Who: whoever may import into the batch's source. The rows a lenient import rejected.

    404 when the batch rejected no rows.
    """
    batch = _batch(_actor(request), batch_id, action="import")
    path = Path(batch.rejected_path) if batch.rejected_path else None
    if path is None or not path.is_file():
        raise NotFound(f"import batch {batch_id} has no rejected rows to download")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"import-{batch_id}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )


# -- column mappings --------------------------------------------------------------------------
@router.get("/mappings", response={200: list[MappingOut], **_LIST}, operation_id="list_mappings")
def list_mappings(request: HttpRequest, kind: Kind | None = None) -> list[MappingOut]:
    """Who: anyone logged in, and API tokens. Saved column mappings, optionally of one kind."""
    mappings = ColumnMapping.objects.select_related("created_by")
    if kind is not None:
        mappings = mappings.filter(kind=kind)
    return [MappingOut.of(mapping) for mapping in mappings]


@router.post(
    "/mappings",
    response={201: MappingOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    operation_id="save_mapping",
)
def save_mapping(request: HttpRequest, payload: MappingIn) -> Status[MappingOut]:
    """Who: anyone logged in; not API tokens. Saves a mapping by name for a source kind.

    A mapping of the same name and kind is replaced.
    """
    mapping = logic.save_mapping(
        actor=_user(request), name=payload.name, kind=payload.kind, spec=payload.spec
    )
    return Status(201, MappingOut.of(mapping))


@router.get(
    "/mappings/suggest",
    response={200: SuggestionOut, 401: ErrorOut, 422: ErrorOut},
    operation_id="suggest_mapping",
)
def suggest_mapping(request: HttpRequest, kind: Kind, columns: str) -> SuggestionOut:
    """Who: anyone logged in, and API tokens. A mapping suggested from a file's column names.

    `columns` is comma-separated; known names (such as the classic journey columns) map to
    canonical fields, the rest goes to properties.
    """
    from c360.ingest.canonical import suggest_mapping as suggest

    names = [name.strip() for name in columns.split(",") if name.strip()]
    if not names:
        raise ValueError("columns: name at least one column, separated by commas")
    return SuggestionOut(kind=kind, columns=names, spec=suggest(kind, names))
