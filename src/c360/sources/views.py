"""Pages for data sources, their grants and imports, and saved column mappings."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import get_valid_filename
from django.views.decorators.http import require_http_methods, require_POST

from c360.accounts.logic import is_admin
from c360.sources import logic
from c360.sources.forms import GrantForm, SourceCreateForm, UploadForm
from c360.sources.models import (
    ColumnMapping,
    DataSource,
    ImportBatch,
    SourceKind,
    Visibility,
    WriteKey,
)
from c360.sources.permissions import can, visible_sources
from c360.web.views import page


def _rights(user: Any, source: DataSource) -> dict[str, bool]:
    return {action: can(user, action, source) for action in ("view", "import", "analyze", "manage")}


def _batch_for(user: Any, batch_id: int, *, action: str = "view") -> ImportBatch:
    """The batch, if the user may `action` its source; NotFound hides other sources' batches."""
    batch = (
        ImportBatch.objects.select_related("source", "created_by", "api_token", "rolled_back_by")
        .filter(pk=batch_id)
        .first()
    )
    if batch is None:
        raise logic.NotFound(f"no import batch {batch_id}")
    logic.require(user, action, batch.source)
    return batch


# -- sources ----------------------------------------------------------------------------
@page
def source_list(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: the sources they may see."""
    sources = (
        visible_sources(request.user)
        .select_related("owner")
        .annotate(batch_count=Count("batches", distinct=True))
        .order_by("name")
    )
    return render(request, "sources/source_list.html", {"sources": sources})


@page
@require_http_methods(["GET", "POST"])
def source_create(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: admins create public or private sources, staff private ones."""
    may_publish = is_admin(request.user)
    form = SourceCreateForm(request.POST or None, may_publish=may_publish)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            source = logic.create_source(
                actor=request.user,  # type: ignore[arg-type]
                name=data["name"],
                kind=data["kind"],
                visibility=data.get("visibility") or Visibility.PRIVATE,
                description=data["description"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created the data source {source.name!r}.")
            return redirect("source-detail", source_id=source.pk)
    return render(request, "sources/source_form.html", {"form": form, "may_publish": may_publish})


@page
def source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    """Anyone who may see the source; grants and upload panels follow the user's rights."""
    source = logic.get_source(request.user, source_id)
    rights = _rights(request.user, source)
    may_grant = is_admin(request.user) or source.owner_id == request.user.pk
    context: dict[str, Any] = {
        "source": source,
        "rights": rights,
        "may_grant": may_grant,
        "batches": source.batches.select_related("created_by", "api_token")[:50],
        "batch_total": source.batches.count(),
    }
    if may_grant:
        context["grants"] = source.grants.select_related("user", "granted_by").order_by(
            "user__username"
        )
        context["grant_form"] = GrantForm(source=source)
    if rights["import"]:
        context["upload_form"] = UploadForm(source=source)
    if source.kind == SourceKind.EVENTS:
        from c360.sources.queries import arrivals
        from c360.warehouse import get_warehouse

        context["arrivals"] = arrivals(get_warehouse(), source_id=source.pk)
    if source.kind == SourceKind.EVENTS and rights["manage"]:
        context["show_tracking"] = True
        context["write_keys"] = source.write_keys.select_related("created_by", "revoked_by")
        context["tracking_url"] = request.build_absolute_uri("/")
    return render(request, "sources/source_detail.html", context)


@page
@require_POST
def write_key_create(request: HttpRequest, source_id: int) -> HttpResponse:
    """Admins and the source's owner: a new write key; its secret is shown in this answer only."""
    source = logic.get_source(request.user, source_id)
    try:
        issued = logic.create_write_key(
            actor=request.user,  # type: ignore[arg-type]
            source=source,
            name=request.POST.get("name", ""),
        )
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("source-detail", args=[source.pk]) + "#tracking")
    response = render(
        request,
        "sources/write_key_issued.html",
        {
            "source": source,
            "write_key": issued.write_key,
            "secret": issued.secret,
            "tracking_url": request.build_absolute_uri("/"),
        },
    )
    # The secret must not linger in a browser or proxy cache.
    response["Cache-Control"] = "no-store"
    return response


@page
@require_POST
def write_key_revoke(request: HttpRequest, source_id: int, key_id: int) -> HttpResponse:
    """Admins and the source's owner: refuse a write key from now on."""
    source = logic.get_source(request.user, source_id)
    key = get_object_or_404(WriteKey, pk=key_id, source=source)
    if key.revoked_at is not None:
        messages.info(request, f"The write key {key.name!r} was revoked already.")
    else:
        logic.revoke_write_key(actor=request.user, write_key=key)  # type: ignore[arg-type]
        messages.success(request, f"Revoked the write key {key.name!r}.")
    return redirect(reverse("source-detail", args=[source.pk]) + "#tracking")


@page
@require_POST
def grant_set(request: HttpRequest, source_id: int) -> HttpResponse:
    """Admins and the source's owner: give or take back a staff member's rights on it."""
    source = logic.get_source(request.user, source_id)
    form = GrantForm(request.POST, source=source)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("source-detail", source_id=source.pk)
    user: User = form.cleaned_data["user"]
    grant = logic.set_grant(
        actor=request.user,  # type: ignore[arg-type]
        source=source,
        user=user,
        can_import=form.cleaned_data["can_import"],
        can_analyze=form.cleaned_data["can_analyze"],
    )
    if grant is None:
        messages.success(request, f"{user.username} holds no rights on {source.name} any more.")
    else:
        pairs = (("import", grant.can_import), ("analyze", grant.can_analyze))
        rights = [name for name, held in pairs if held]
        messages.success(
            request, f"{user.username} may now {' and '.join(rights)} on {source.name}."
        )
    return redirect(reverse("source-detail", args=[source.pk]) + "#grants")


# -- imports ----------------------------------------------------------------------------
def _error_json(status: int, code: str, message: str, **details: Any) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "details": [details] if details else []}}
    return JsonResponse(body, status=status)


def _store_upload(upload: UploadedFile) -> Path:
    """Keep the upload under the upload dir with a name no other upload can take."""
    name = get_valid_filename(Path(upload.name or "upload").name) or "upload"
    target = logic.upload_dir() / f"{uuid.uuid4().hex}-{name[-100:]}"
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        # Django streamed the body to FILE_UPLOAD_TEMP_DIR, inside the upload dir: a rename.
        os.replace(temporary(), target)
    else:
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
    return target


def _upload_form(request: HttpRequest, source_id: int) -> tuple[UploadForm, Path] | JsonResponse:
    """The validated upload form and the stored file, or the JSON answer that refuses it."""
    try:
        source = logic.get_source(request.user, source_id, action="import")
    except logic.NotFound as exc:
        return _error_json(404, "not_found", str(exc))
    except logic.NotAllowed as exc:
        return _error_json(403, "not_allowed", str(exc))
    form = UploadForm(request.POST, request.FILES, source=source)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label if name in form.fields else name}: "
            + " ".join(str(error) for error in errors)
            for name, errors in form.errors.items()
        )
        return _error_json(400, "invalid_upload", problems)
    return form, _store_upload(form.cleaned_data["file"])


@page
@require_POST
def upload(request: HttpRequest, source_id: int) -> HttpResponse:
    """Anyone with the import right on the source: start an import, answer JSON."""
    checked = _upload_form(request, source_id)
    if isinstance(checked, JsonResponse):
        return checked
    form, path = checked
    data = form.cleaned_data
    mapping: ColumnMapping | None = data["mapping"]
    batch = logic.create_batch(
        actor=request.user,
        source=form.source,
        file_name=data["file"].name,
        file_size=data["file"].size,
        mode=data["mode"],
        mapping_name=mapping.name if mapping else "",
    )
    logic.start_import_in_background(
        batch=batch,
        path=path,
        mapping_spec=mapping.spec if mapping else None,
        delimiter=data["delimiter"] or None,
    )
    return JsonResponse(
        {
            "batch_id": batch.pk,
            "url": reverse("batch-detail", args=[batch.pk]),
            "progress_url": reverse("batch-progress", args=[batch.pk]),
        },
        status=201,
    )


def _preview_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The preview's rows as a table, without the fields this file leaves empty throughout."""
    columns = [
        c for c in (rows[0] if rows else {}) if any(r.get(c) not in (None, "") for r in rows)
    ]
    return {"row_columns": columns, "row_values": [[r.get(c) for c in columns] for r in rows]}


@page
@require_POST
def upload_preview(request: HttpRequest, source_id: int) -> HttpResponse:
    """Anyone with the import right on the source: how a file would import; lands nothing."""
    from c360.ingest.importer import FileProblem, preview_file

    checked = _upload_form(request, source_id)
    if isinstance(checked, JsonResponse):
        return checked
    form, path = checked
    mapping: ColumnMapping | None = form.cleaned_data["mapping"]
    try:
        preview = preview_file(
            path=path,
            kind=form.source.kind,
            mapping_spec=mapping.spec if mapping else None,
            delimiter=form.cleaned_data["delimiter"] or None,
        )
    except FileProblem as exc:
        return _error_json(422, "bad_file", str(exc))
    finally:
        path.unlink(missing_ok=True)
    context = {
        "preview": preview,
        "file_name": form.cleaned_data["file"].name,
        "mapping_rows": _mapping_rows(preview.mapping),
        "properties_rule": _properties_rule(preview.mapping),
        **_preview_table(preview.rows),
    }
    return render(request, "sources/_preview.html", context)


@page
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    """Anyone who may see the batch's source; download and rollback need the import right."""
    batch = _batch_for(request.user, batch_id)
    rights = _rights(request.user, batch.source)
    context = {
        "batch": batch,
        "source": batch.source,
        "rights": rights,
        "mapping_rows": _mapping_rows(batch.mapping),
        "properties_rule": _properties_rule(batch.mapping) if batch.mapping else "",
        "has_rejected_file": bool(batch.rejected_path) and Path(batch.rejected_path).is_file(),
    }
    return render(request, "sources/batch_detail.html", context)


@page
def batch_progress(request: HttpRequest, batch_id: int) -> HttpResponse:
    """Anyone who may see the batch's source: the progress partial htmx polls."""
    batch = _batch_for(request.user, batch_id)
    on_detail = request.GET.get("on") == "detail"
    response = render(
        request, "sources/_batch_progress.html", {"batch": batch, "on_detail": on_detail}
    )
    if batch.is_finished and request.headers.get("HX-Request"):
        if on_detail:
            # The import page shows errors, mapping and rollback once it is over: reload it.
            response["HX-Refresh"] = "true"
        else:
            # The source page refreshes its table of imports on this event.
            response["HX-Trigger"] = "import-finished"
    return response


@page
def batch_rejected(request: HttpRequest, batch_id: int) -> HttpResponseBase:
    """Anyone with the import right on the batch's source: the rejected rows as CSV."""
    batch = _batch_for(request.user, batch_id, action="import")
    path = Path(batch.rejected_path) if batch.rejected_path else None
    if path is None or not path.is_file():
        raise Http404("this import has no file of rejected rows")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"import-{batch.pk}-rejected-rows.csv",
        content_type="text/csv",
    )


@page
@require_POST
def batch_rollback(request: HttpRequest, batch_id: int) -> HttpResponse:
    """Anyone with the import right on the batch's source: remove the batch's rows."""
    batch = _batch_for(request.user, batch_id, action="import")
    try:
        batch = logic.rollback_batch(actor=request.user, batch=batch)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Rolled back import {batch.pk}: {batch.rows_removed} rows removed."
        )
    return redirect("batch-detail", batch_id=batch.pk)


# -- column mappings --------------------------------------------------------------------
def _mapping_rows(spec: dict[str, Any] | None) -> list[dict[str, str]]:
    """The spec's fields as table rows: field, where its value comes from, and how it is read."""
    fields = (spec or {}).get("fields") or {}
    rows = []
    for field, rule in fields.items():
        rule = rule if isinstance(rule, dict) else {"column": str(rule)}
        if "column" in rule:
            origin, value = "column", str(rule["column"])
        else:
            origin, value = "constant", str(rule.get("constant", ""))
        how = ", ".join(
            f"{key} {rule[key]}" for key in ("cast", "format", "timezone") if rule.get(key)
        )
        rows.append({"field": field, "origin": origin, "value": value, "how": how})
    return rows


def _properties_rule(spec: dict[str, Any] | None) -> str:
    rule = (spec or {}).get("properties", "rest")
    if rule == "rest":
        return "Every other column is kept in properties."
    if rule == "none":
        return "Other columns are dropped."
    return "Kept in properties: " + ", ".join(str(column) for column in rule)


@page
def mapping_list(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: saved mappings, grouped by source kind."""
    mappings = ColumnMapping.objects.select_related("created_by").order_by("kind", "name")
    kinds = dict(SourceKind.choices)
    groups: dict[str, list[dict[str, Any]]] = {}
    for mapping in mappings:
        groups.setdefault(kinds.get(mapping.kind, mapping.kind), []).append(
            {"mapping": mapping, "field_count": len((mapping.spec or {}).get("fields") or {})}
        )
    return render(request, "sources/mapping_list.html", {"groups": groups})


@page
def mapping_detail(request: HttpRequest, mapping_id: int) -> HttpResponse:
    """Anyone logged in: one saved mapping, field by field."""
    mapping = get_object_or_404(ColumnMapping.objects.select_related("created_by"), pk=mapping_id)
    context = {
        "mapping": mapping,
        "rows": _mapping_rows(mapping.spec),
        "properties_rule": _properties_rule(mapping.spec),
    }
    return render(request, "sources/mapping_detail.html", context)
