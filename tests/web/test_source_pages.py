"""Source, import and mapping pages: what each person sees and may change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from c360.sources import logic
from c360.sources.models import (
    BatchStatus,
    ColumnMapping,
    DataSource,
    Grant,
    ImportBatch,
    Visibility,
)
from c360.warehouse import Warehouse
from factories import make_staff

from .conftest import World, client_for

JOURNEY_CSV = "customer_id,action_type,time\nc1,page_view,2024-05-01T10:00:00Z\n"


# -- lists and the dashboard ------------------------------------------------------------
def test_source_list_shows_only_visible_sources(world: World) -> None:
    page = client_for(world.viewer).get(reverse("source-list")).content.decode()
    assert "Web shop" in page
    assert "Olivia" not in page
    admin_page = client_for(world.admin).get(reverse("source-list")).content.decode()
    assert "Web shop" in admin_page
    assert "Olivia&#x27;s leads" in admin_page


def test_empty_states_invite_to_create_a_source(db: None) -> None:
    newcomer = make_staff("nora")
    client = client_for(newcomer)
    home = client.get(reverse("home")).content.decode()
    assert "No data sources yet" in home
    assert reverse("source-create") in home
    sources = client.get(reverse("source-list")).content.decode()
    assert "No data sources you can see" in sources
    mappings = client.get(reverse("mapping-list")).content.decode()
    assert "No saved mappings yet" in mappings


def test_dashboard_counts_only_visible_sources_and_their_imports(world: World) -> None:
    viewer_home = client_for(world.viewer).get(reverse("home"))
    assert viewer_home.context["source_count"] == 1
    assert [b.pk for b in viewer_home.context["recent_batches"]] == [world.batch.pk]
    admin_home = client_for(world.admin).get(reverse("home"))
    assert admin_home.context["source_count"] == 2
    assert admin_home.context["batch_count"] == 2
    assert "leads.csv" in admin_home.content.decode()
    assert "leads.csv" not in viewer_home.content.decode()


# -- creating sources -------------------------------------------------------------------
def test_staff_create_private_sources_only(world: World) -> None:
    client = client_for(world.viewer)
    form = client.get(reverse("source-create")).content.decode()
    assert 'name="visibility"' not in form
    response = client.post(
        reverse("source-create"),
        {"name": "Vera's survey", "kind": "customers", "visibility": "public"},
    )
    source = DataSource.objects.get(name="Vera's survey")
    assert response.status_code == 302
    assert response["Location"] == reverse("source-detail", args=[source.pk])
    assert source.visibility == Visibility.PRIVATE
    assert source.owner == world.viewer


def test_admin_chooses_visibility(world: World) -> None:
    client = client_for(world.admin)
    assert 'name="visibility"' in client.get(reverse("source-create")).content.decode()
    client.post(
        reverse("source-create"),
        {"name": "Stores", "kind": "orders", "visibility": "public", "description": "tills"},
    )
    assert DataSource.objects.get(name="Stores").visibility == Visibility.PUBLIC


def test_source_form_reports_a_taken_name(world: World) -> None:
    response = client_for(world.admin).post(
        reverse("source-create"), {"name": "web SHOP", "kind": "events", "visibility": "private"}
    )
    assert response.status_code == 200
    assert b"exists already" in response.content
    assert DataSource.objects.count() == 2


# -- source detail: rights, grants, upload panel ----------------------------------------
def test_source_detail_shows_panels_by_right(world: World) -> None:
    url = reverse("source-detail", args=[world.public.pk])
    viewer = client_for(world.viewer).get(url).content.decode()
    assert "data-upload" not in viewer
    assert 'id="grants"' not in viewer
    assert "Roll back" not in viewer
    importer = client_for(world.importer).get(url).content.decode()
    assert "data-upload" in importer
    assert 'id="grants"' not in importer
    assert "Roll back" in importer
    admin = client_for(world.admin).get(url).content.decode()
    assert 'id="grants"' in admin
    assert "ivan" in admin  # the grant table


def test_upload_panel_offers_saved_mappings_of_the_source_kind(world: World) -> None:
    ColumnMapping.objects.create(
        name="Customer file", kind="customers", created_by=world.admin, spec={"fields": {}}
    )
    page = client_for(world.admin).get(reverse("source-detail", args=[world.public.pk]))
    choices = [str(label) for _, label in page.context["upload_form"].fields["mapping"].choices]
    assert choices == ["Suggest from the file's headers", "Shop export (events)"]


def test_owner_grants_and_revokes_rights(world: World) -> None:
    client = client_for(world.owner)
    url = reverse("source-grant", args=[world.private.pk])
    response = client.post(url, {"user": world.viewer.pk, "can_import": "on"}, follow=True)
    assert b"vera may now import on Olivia" in response.content
    grant = Grant.objects.get(source=world.private, user=world.viewer)
    assert (grant.can_import, grant.can_analyze) == (True, False)
    assert (
        client_for(world.viewer).get(reverse("source-detail", args=[world.private.pk])).status_code
        == 200
    )
    client.post(url, {"user": world.viewer.pk})
    assert not Grant.objects.filter(source=world.private, user=world.viewer).exists()


def test_staff_without_manage_right_may_not_grant(world: World) -> None:
    url = reverse("source-grant", args=[world.public.pk])
    response = client_for(world.importer).post(url, {"user": world.viewer.pk, "can_import": "on"})
    assert response.status_code == 403
    hidden = reverse("source-grant", args=[world.private.pk])
    assert client_for(world.viewer).post(hidden, {"user": world.viewer.pk}).status_code == 404
    assert not Grant.objects.filter(user=world.viewer).exists()


# -- upload -----------------------------------------------------------------------------
@pytest.fixture
def started_imports(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the hand-off to the background import instead of running it.

    The import itself (parsing, validation, landing rows) is the importer's to test; here
    only what the page hands it matters: the batch, the stored file, the mapping, the delimiter.
    """
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(logic, "start_import_in_background", lambda **kw: calls.append(kw))
    return calls


def _csv(text: str = JOURNEY_CSV, name: str = "journey.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_upload_creates_a_batch_and_starts_its_import(
    world: World, started_imports: list[dict[str, Any]]
) -> None:
    response = client_for(world.importer).post(
        reverse("source-upload", args=[world.public.pk]),
        {"file": _csv(), "mapping": world.mapping.pk, "mode": "lenient", "delimiter": ","},
    )
    assert response.status_code == 201
    answer = json.loads(response.content)
    batch = ImportBatch.objects.get(pk=answer["batch_id"])
    assert answer["url"] == reverse("batch-detail", args=[batch.pk])
    assert answer["progress_url"] == reverse("batch-progress", args=[batch.pk])
    assert (batch.source, batch.created_by) == (world.public, world.importer)
    assert (batch.file_name, batch.file_size) == ("journey.csv", len(JOURNEY_CSV))
    assert (batch.mode, batch.mapping_name, batch.status) == ("lenient", "Shop export", "pending")
    [call] = started_imports
    assert call["batch"] == batch
    assert call["mapping_spec"] == world.mapping.spec
    assert call["delimiter"] == ","
    stored: Path = call["path"]
    assert stored.parent == logic.upload_dir()
    assert stored.name.endswith("-journey.csv")
    assert stored.read_text() == JOURNEY_CSV


def test_upload_without_mapping_asks_for_a_suggestion(
    world: World, started_imports: list[dict[str, Any]]
) -> None:
    url = reverse("source-upload", args=[world.public.pk])
    first = client_for(world.admin).post(url, {"file": _csv(), "mode": "strict"})
    second = client_for(world.admin).post(url, {"file": _csv(), "mode": "strict"})
    assert first.status_code == second.status_code == 201
    assert [call["mapping_spec"] for call in started_imports] == [None, None]
    assert [call["delimiter"] for call in started_imports] == [None, None]
    # Two uploads of one file name never overwrite each other.
    assert started_imports[0]["path"] != started_imports[1]["path"]


def test_upload_is_refused_to_whoever_may_not_import(
    world: World, started_imports: list[dict[str, Any]]
) -> None:
    public = reverse("source-upload", args=[world.public.pk])
    private = reverse("source-upload", args=[world.private.pk])
    before = ImportBatch.objects.count()
    anonymous = client_for(None).post(public, {"file": _csv(), "mode": "strict"})
    assert anonymous.status_code == 302
    viewer = client_for(world.viewer).post(public, {"file": _csv(), "mode": "strict"})
    assert viewer.status_code == 403
    assert json.loads(viewer.content)["error"]["code"] == "not_allowed"
    hidden = client_for(world.importer).post(private, {"file": _csv(), "mode": "strict"})
    assert hidden.status_code == 404
    assert ImportBatch.objects.count() == before
    assert started_imports == []


def test_upload_reports_a_missing_file(world: World, started_imports: list[dict[str, Any]]) -> None:
    response = client_for(world.admin).post(
        reverse("source-upload", args=[world.public.pk]), {"mode": "sideways"}
    )
    assert response.status_code == 400
    message = json.loads(response.content)["error"]["message"]
    assert "File: This field is required." in message
    assert "sideways is not one of the available choices" in message
    assert started_imports == []


def test_an_uploaded_file_lands_and_its_import_page_tells_how(
    world: World, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real importer, run inline: a thread would not see this test's uncommitted rows."""
    monkeypatch.setattr(logic, "start_import_in_background", logic.run_import)
    bad_row = "c2,page_view,yesterday-ish\n"
    response = client_for(world.importer).post(
        reverse("source-upload", args=[world.public.pk]),
        {"file": _csv(JOURNEY_CSV + bad_row), "mode": "lenient"},
    )
    assert response.status_code == 201
    batch = ImportBatch.objects.get(pk=json.loads(response.content)["batch_id"])
    assert (batch.status, batch.rows_read, batch.rows_inserted) == ("done", 2, 1)
    page = client_for(world.importer).get(reverse("batch-detail", args=[batch.pk]))
    text = page.content.decode()
    assert "yesterday-ish" in text
    assert reverse("batch-rejected", args=[batch.pk]) in text
    download = client_for(world.importer).get(reverse("batch-rejected", args=[batch.pk]))
    assert b"yesterday-ish" in b"".join(download.streaming_content)  # type: ignore[arg-type]
    download.close()


# -- import progress and detail ---------------------------------------------------------
def test_progress_partial_polls_until_the_import_is_finished(world: World) -> None:
    batch = world.batch
    batch.status, batch.stage, batch.progress = BatchStatus.RUNNING, "validating rows", 0.42
    batch.save()
    url = reverse("batch-progress", args=[batch.pk])
    client = client_for(world.viewer)
    running = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in running
    assert "Validating rows · 42%" in running
    batch.status = BatchStatus.DONE
    batch.save()
    done = client.get(url).content.decode()
    assert "hx-trigger" not in done
    assert f"Open import #{batch.pk}" in done


def test_a_finished_import_refreshes_the_page_that_polled_it(world: World) -> None:
    url = reverse("batch-progress", args=[world.batch.pk])
    client = client_for(world.viewer)
    from_source_page = client.get(url, headers={"HX-Request": "true"})
    assert from_source_page["HX-Trigger"] == "import-finished"
    from_import_page = client.get(url + "?on=detail", headers={"HX-Request": "true"})
    assert from_import_page["HX-Refresh"] == "true"
    world.batch.status = BatchStatus.RUNNING
    world.batch.save()
    still_running = client.get(url + "?on=detail", headers={"HX-Request": "true"})
    assert "HX-Refresh" not in still_running
    assert "hx-trigger" in still_running.content.decode()


def test_batch_detail_shows_errors_mapping_and_download_for_importers(world: World) -> None:
    url = reverse("batch-detail", args=[world.batch.pk])
    importer = client_for(world.importer).get(url).content.decode()
    assert "not a timestamp" in importer
    assert "<code>cust</code>" in importer
    assert reverse("batch-rejected", args=[world.batch.pk]) in importer
    viewer = client_for(world.viewer).get(url).content.decode()
    assert "not a timestamp" in viewer
    assert reverse("batch-rejected", args=[world.batch.pk]) not in viewer
    assert reverse("batch-rollback", args=[world.batch.pk]) not in viewer


def test_rollback_removes_the_batch_and_logs_who_did_it(world: World, warehouse: Warehouse) -> None:
    url = reverse("batch-rollback", args=[world.batch.pk])
    assert client_for(world.viewer).post(url).status_code == 403
    assert client_for(world.importer).get(url).status_code == 405
    response = client_for(world.importer).post(url, follow=True)
    assert f"Rolled back import {world.batch.pk}".encode() in response.content
    world.batch.refresh_from_db()
    assert world.batch.status == BatchStatus.ROLLED_BACK
    assert world.batch.rolled_back_by == world.importer
    page = response.content.decode()
    assert "Rows removed" in page
    again = client_for(world.importer).post(url, follow=True)
    assert b"only an imported batch can be rolled back" in again.content


# -- mappings ---------------------------------------------------------------------------
def test_mapping_pages_show_the_spec(world: World) -> None:
    client = client_for(world.viewer)
    listing = client.get(reverse("mapping-list")).content.decode()
    assert "Shop export" in listing
    assert ">4<" in listing  # fields mapped
    detail = client.get(reverse("mapping-detail", args=[world.mapping.pk])).content.decode()
    assert "<code>Customer Number</code>" in detail
    assert "constant “web”" in detail
    assert "format %d/%m/%Y %H:%M" in detail
    assert "Every other column is kept in properties." in detail
    assert client.get(reverse("mapping-detail", args=[999_999])).status_code == 404


# -- preview ----------------------------------------------------------------------------
def test_preview_shows_rows_mapping_and_errors_and_lands_nothing(world: World) -> None:
    bad_row = "c2,page_view,yesterday-ish\n"
    uploads_before = set(logic.upload_dir().iterdir())
    response = client_for(world.importer).post(
        reverse("source-preview", args=[world.public.pk]),
        {"file": _csv(JOURNEY_CSV + bad_row), "mode": "strict"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 of 2 rows would be rejected" in page
    assert "<code>action_type</code>" in page  # the suggested mapping, as a table
    assert "page_view" in page  # a first row
    assert "yesterday-ish" in page  # its row error
    assert ImportBatch.objects.count() == 2  # the two of the world, no more
    assert set(logic.upload_dir().iterdir()) == uploads_before  # the previewed file is gone


def test_preview_reports_a_bad_file(world: World) -> None:
    response = client_for(world.admin).post(
        reverse("source-preview", args=[world.public.pk]),
        {"file": _csv("a;b\n1;2\n", name="other.csv"), "mode": "strict"},
    )
    assert response.status_code == 422
    problem = json.loads(response.content)["error"]
    assert problem["code"] == "bad_file"
    assert "no column of the file is mapped to them (its columns: a, b)" in problem["message"]


def test_preview_is_refused_to_whoever_may_not_import(world: World) -> None:
    url = reverse("source-preview", args=[world.public.pk])
    assert client_for(None).post(url, {"file": _csv(), "mode": "strict"}).status_code == 302
    refused = client_for(world.viewer).post(url, {"file": _csv(), "mode": "strict"})
    assert refused.status_code == 403
    hidden = reverse("source-preview", args=[world.private.pk])
    assert client_for(world.importer).post(hidden, {"file": _csv()}).status_code == 404
