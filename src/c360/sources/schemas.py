"""What the sources API accepts and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.urls import reverse
from ninja import Field, Schema

from c360.sources.models import ColumnMapping, DataSource, Grant, ImportBatch
from c360.sources.permissions import Actor, can

Kind = Literal["events", "customers", "orders", "order_items", "products"]
VisibilityName = Literal["private", "public"]
Action = Literal["view", "import", "analyze", "manage"]
_ACTIONS: tuple[Action, ...] = ("view", "import", "analyze", "manage")


class SourceOut(Schema):
    id: int
    name: str
    kind: Kind
    visibility: VisibilityName
    owner: str
    description: str
    created_at: datetime
    updated_at: datetime
    allowed: list[Action] = Field(description="What the caller may do with this source.")

    @staticmethod
    def of(source: DataSource, actor: Actor) -> SourceOut:
        return SourceOut(
            id=source.pk,
            name=source.name,
            kind=source.kind,  # type: ignore[arg-type]
            visibility=source.visibility,  # type: ignore[arg-type]
            owner=source.owner.get_username(),
            description=source.description,
            created_at=source.created_at,
            updated_at=source.updated_at,
            allowed=[action for action in _ACTIONS if can(actor, action, source)],
        )


class SourceIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    kind: Kind
    visibility: VisibilityName = "private"
    description: str = ""


class SourcePatch(Schema):
    """Fields left out stay as they are."""

    description: str | None = None
    visibility: VisibilityName | None = None


class GrantIn(Schema):
    can_import: bool
    can_analyze: bool


class GrantOut(Schema):
    """A staff member's rights on a source; both False means no grant."""

    user_id: int
    username: str
    can_import: bool
    can_analyze: bool
    granted_by: str | None
    granted_at: datetime | None

    @staticmethod
    def of(grant: Grant) -> GrantOut:
        return GrantOut(
            user_id=grant.user_id,
            username=grant.user.get_username(),
            can_import=grant.can_import,
            can_analyze=grant.can_analyze,
            granted_by=grant.granted_by.get_username(),
            granted_at=grant.granted_at,
        )


class RowErrorOut(Schema):
    row: int
    column: str
    reason: str


class BatchOut(Schema):
    """One import, whatever its outcome: the import log entry."""

    id: int
    source_id: int
    source_name: str
    created_by: str | None = Field(description="The user who imported; None for an API token.")
    api_token_id: int | None
    file_name: str
    file_size: int
    file_format: str
    mapping_name: str
    mapping: dict[str, Any] = Field(description="The mapping spec as applied.")
    mode: Literal["strict", "lenient"]
    status: Literal["pending", "running", "done", "rejected", "failed", "rolled_back"]
    stage: str
    progress: float = Field(ge=0, le=1)
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rows_duplicate: int = Field(description="Accepted rows already in the warehouse.")
    rows_inserted: int
    error: str
    errors_sample: list[RowErrorOut]
    rejected_csv_url: str | None = Field(
        description="Download of the rejected rows with their reasons, if any."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    rolled_back_at: datetime | None
    rolled_back_by: str | None
    rows_removed: int

    @staticmethod
    def of(batch: ImportBatch) -> BatchOut:
        return BatchOut(
            id=batch.pk,
            source_id=batch.source_id,
            source_name=batch.source.name,
            created_by=batch.created_by.get_username() if batch.created_by else None,
            api_token_id=batch.api_token_id,
            file_name=batch.file_name,
            file_size=batch.file_size,
            file_format=batch.file_format,
            mapping_name=batch.mapping_name,
            mapping=batch.mapping,
            mode=batch.mode,  # type: ignore[arg-type]
            status=batch.status,  # type: ignore[arg-type]
            stage=batch.stage,
            progress=batch.progress,
            rows_read=batch.rows_read,
            rows_accepted=batch.rows_accepted,
            rows_rejected=batch.rows_rejected,
            rows_duplicate=batch.rows_duplicate,
            rows_inserted=batch.rows_inserted,
            error=batch.error,
            errors_sample=[RowErrorOut(**error) for error in batch.errors_sample],
            rejected_csv_url=(
                reverse("api:rejected_rows", kwargs={"batch_id": batch.pk})
                if batch.rejected_path
                else None
            ),
            created_at=batch.created_at,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            duration_seconds=batch.duration_seconds,
            rolled_back_at=batch.rolled_back_at,
            rolled_back_by=batch.rolled_back_by.get_username() if batch.rolled_back_by else None,
            rows_removed=batch.rows_removed,
        )


class ImportForm(Schema):
    """The form fields sent with an uploaded file."""

    mapping: str | None = Field(None, description="Name of a saved mapping for the source's kind.")
    mapping_spec: str | None = Field(
        None,
        description="A mapping spec as JSON; give this or `mapping`, or neither to use the "
        "mapping suggested from the file's headers.",
    )
    mode: Literal["strict", "lenient"] = Field(
        "strict",
        description="strict: any bad row rejects the file; lenient: good rows land, bad rows "
        "are reported and downloadable.",
    )
    delimiter: str | None = Field(None, description="CSV delimiter; detected when left out.")
    wait: bool = Field(
        True, description="true: answer when the import has finished (201); false: at once (202)."
    )


class PreviewForm(Schema):
    mapping: str | None = Field(None, description="Name of a saved mapping.")
    mapping_spec: str | None = Field(None, description="A mapping spec as JSON.")
    delimiter: str | None = Field(None, description="CSV delimiter; detected when left out.")
    limit: int = Field(20, ge=1, le=200, description="How many rows to show.")


class PreviewOut(Schema):
    """The first rows as they will be stored, and what is wrong with them; nothing lands."""

    file_format: str
    columns: list[str] = Field(description="The file's columns.")
    mapping: dict[str, Any] = Field(description="The mapping spec used (suggested if none given).")
    rows: list[dict[str, Any]]
    errors: list[RowErrorOut]
    rows_read: int
    rows_rejected: int


class MappingIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    kind: Kind
    spec: dict[str, Any]


class MappingOut(Schema):
    id: int
    name: str
    kind: Kind
    spec: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(mapping: ColumnMapping) -> MappingOut:
        return MappingOut(
            id=mapping.pk,
            name=mapping.name,
            kind=mapping.kind,  # type: ignore[arg-type]
            spec=mapping.spec,
            created_by=mapping.created_by.get_username(),
            created_at=mapping.created_at,
            updated_at=mapping.updated_at,
        )


class SuggestionOut(Schema):
    kind: Kind
    columns: list[str]
    spec: dict[str, Any] = Field(description="A mapping spec; unknown columns go to properties.")
