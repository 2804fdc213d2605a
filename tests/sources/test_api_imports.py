"""File imports through the API: upload, preview, the import log, rejected rows, rollback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from api_helpers import JOURNEY_CSV, Api, World, assert_error, csv_upload
from django.core.files.uploadedfile import SimpleUploadedFile

from c360.sources.models import ImportBatch
from c360.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("warehouse")

BAD_TIME_CSV = JOURNEY_CSV + "c3,visit,not a date,web\n"
GARBAGE = SimpleUploadedFile("journey.csv", bytes(range(256)) * 40, content_type="text/csv")


@pytest.fixture
def uploads(settings: Any, tmp_path: Path) -> Path:
    """An upload dir of this test's own, for both Django's temporary files and ours."""
    path = tmp_path / "uploads"
    path.mkdir()
    settings.C360_UPLOAD_DIR = path
    settings.FILE_UPLOAD_TEMP_DIR = str(path)
    return path


def _import(api: Api, world: World, **form: Any) -> Any:
    upload = form.pop("file", None) or csv_upload()
    return api.post(f"/api/sources/{world.shop.pk}/imports", data={"file": upload, **form})


def _events(warehouse: Warehouse, batch_id: int | None = None) -> int:
    if batch_id is None:
        return warehouse.count("events")
    return warehouse.count("events", batch_id=batch_id)


def test_an_upload_lands_as_one_logged_batch(world: World, warehouse: Warehouse) -> None:
    response = _import(Api(world.granted), world)

    assert response.status_code == 201, response.content
    batch = response.json()
    assert batch["status"] == "done", batch["error"]
    assert (batch["rows_read"], batch["rows_accepted"], batch["rows_inserted"]) == (3, 3, 3)
    assert batch["rows_rejected"] == 0
    assert batch["file_name"] == "journey.csv"
    assert batch["file_size"] == len(JOURNEY_CSV)
    assert batch["created_by"] == "gina"
    assert batch["api_token_id"] is None
    assert batch["mapping"]["fields"]["event"]["column"] == "action_type"
    assert batch["rejected_csv_url"] is None
    assert _events(warehouse, batch["id"]) == 3
    assert Api(world.granted).get(f"/api/imports/{batch['id']}").json() == batch
    listed = Api(world.bystander).get(f"/api/sources/{world.shop.pk}/imports").json()
    assert [b["id"] for b in listed] == [batch["id"], world.shop_batch.pk]


def test_a_token_imports_and_the_log_names_the_token(world: World) -> None:
    response = _import(Api(world.shop_token), world)

    assert response.status_code == 201
    assert response.json()["created_by"] is None
    assert response.json()["api_token_id"] == world.shop_token_row.pk


def test_importing_the_same_file_again_adds_no_events(world: World, warehouse: Warehouse) -> None:
    api = Api(world.granted)
    first = _import(api, world).json()

    again = _import(api, world).json()

    assert first["rows_inserted"] == 3
    assert again["status"] == "done"
    assert (again["rows_inserted"], again["rows_duplicate"]) == (0, 3)
    assert _events(warehouse) == 3


def test_the_upload_is_removed_once_imported(world: World, uploads: Path) -> None:
    batch = _import(Api(world.granted), world).json()

    assert batch["status"] == "done"
    assert [p.name for p in uploads.iterdir() if p.name.startswith("import-")] == []


def test_a_file_that_cannot_be_read_is_a_rejected_batch(world: World, warehouse: Warehouse) -> None:
    response = _import(Api(world.granted), world, file=GARBAGE)

    assert response.status_code == 201
    batch = response.json()
    assert batch["status"] == "rejected"
    assert batch["error"]
    assert _events(warehouse) == 0
    assert ImportBatch.objects.get(pk=batch["id"]).status == "rejected"


def test_strict_mode_rejects_the_file_for_one_bad_row(world: World, warehouse: Warehouse) -> None:
    response = _import(Api(world.granted), world, file=csv_upload(BAD_TIME_CSV), mode="strict")

    batch = response.json()
    assert response.status_code == 201
    assert batch["status"] == "rejected"
    assert batch["rows_rejected"] == 1
    assert batch["errors_sample"][0]["row"] == 4
    assert batch["errors_sample"][0]["column"] == "time"
    assert "row 4" in batch["error"]
    assert _events(warehouse) == 0


def test_lenient_mode_lands_good_rows_and_offers_the_rest(
    world: World, warehouse: Warehouse
) -> None:
    api = Api(world.shop_token)

    batch = _import(api, world, file=csv_upload(BAD_TIME_CSV), mode="lenient").json()
    download = api.get(batch["rejected_csv_url"])

    assert batch["status"] == "done"
    assert (batch["rows_accepted"], batch["rows_rejected"]) == (3, 1)
    assert _events(warehouse, batch["id"]) == 3
    assert batch["rejected_csv_url"] == f"/api/imports/{batch['id']}/rejected.csv"
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    assert b"not a date" in download.downloaded


def test_a_batch_without_rejected_rows_has_nothing_to_download(world: World) -> None:
    batch = _import(Api(world.granted), world).json()

    response = Api(world.granted).get(f"/api/imports/{batch['id']}/rejected.csv")

    assert_error(response, 404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_without_waiting_the_answer_comes_at_once(world: World, warehouse: Warehouse) -> None:
    api = Api(world.granted)

    response = _import(api, world, wait="false")

    assert response.status_code == 202, response.content
    assert response.json()["status"] in {"pending", "running"}
    deadline = time.monotonic() + 30
    batch = response.json()
    while batch["status"] in {"pending", "running"} and time.monotonic() < deadline:
        time.sleep(0.1)
        batch = api.get(f"/api/imports/{batch['id']}").json()
    assert batch["status"] == "done", batch
    assert _events(warehouse, batch["id"]) == 3


RENAMED_CSV = "cust,what,when\nc1,visit,2024-03-01 10:00:00\nc2,buy,2024-03-01 11:00:00\n"
RENAMED_SPEC = {
    "fields": {
        "customer_id": {"column": "cust"},
        "event": {"column": "what"},
        "timestamp": {"column": "when"},
    },
    "properties": "rest",
}


def test_a_saved_mapping_is_used_by_name(world: World, warehouse: Warehouse) -> None:
    api = Api(world.granted)
    saved = api.post(
        "/api/mappings", json={"name": "renamed", "kind": "events", "spec": RENAMED_SPEC}
    )
    assert saved.status_code == 201

    batch = _import(api, world, file=csv_upload(RENAMED_CSV), mapping="renamed").json()

    assert batch["status"] == "done", batch["error"]
    assert batch["mapping_name"] == "renamed"
    assert batch["mapping"]["fields"]["event"]["column"] == "what"
    assert _events(warehouse, batch["id"]) == 2


def test_a_mapping_spec_is_sent_as_json(world: World, warehouse: Warehouse) -> None:
    batch = _import(
        Api(world.granted),
        world,
        file=csv_upload(RENAMED_CSV),
        mapping_spec=json.dumps(RENAMED_SPEC),
    ).json()

    assert batch["status"] == "done", batch["error"]
    assert batch["mapping_name"] == ""
    assert _events(warehouse, batch["id"]) == 2


@pytest.mark.parametrize(
    ("form", "status", "code", "words"),
    [
        ({"mapping_spec": "{not json"}, 422, "invalid", "not valid JSON"),
        ({"mapping_spec": "[1, 2]"}, 422, "invalid", "JSON object"),
        (
            {"mapping_spec": json.dumps({"fields": {"nope": {"column": "x"}}})},
            422,
            "invalid",
            "nope",
        ),
        ({"mapping": "renamed", "mapping_spec": "{}"}, 422, "invalid", "not both"),
        ({"mapping": "no such mapping"}, 404, "not_found", "no such mapping"),
        ({"mode": "sloppy"}, 422, "invalid_request", "mode"),
    ],
)
def test_a_bad_import_request_records_no_batch(
    world: World, uploads: Path, form: dict[str, str], status: int, code: str, words: str
) -> None:
    before = ImportBatch.objects.count()

    response = _import(Api(world.granted), world, **form)

    error = assert_error(response, status, code)
    assert words in error["message"]
    assert ImportBatch.objects.count() == before
    assert list(uploads.iterdir()) == []


def test_a_request_without_a_file_is_refused(world: World) -> None:
    response = Api(world.granted).post(
        f"/api/sources/{world.shop.pk}/imports", data={"mode": "strict"}
    )

    error = assert_error(response, 422, "invalid_request")
    assert "file" in error["message"]


def test_a_preview_shows_rows_as_stored_and_lands_nothing(
    world: World, warehouse: Warehouse, uploads: Path
) -> None:
    before = ImportBatch.objects.count()

    response = Api(world.shop_token).post(
        f"/api/sources/{world.shop.pk}/imports/preview",
        data={"file": csv_upload(BAD_TIME_CSV), "limit": "2"},
    )

    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["columns"] == ["customer_id", "action_type", "time", "channel"]
    assert preview["mapping"]["fields"]["timestamp"]["column"] == "time"
    assert len(preview["rows"]) == 2
    assert preview["rows"][0]["customer_id"] == "c1"
    assert preview["rows"][0]["event"] == "visit"
    assert (preview["rows_read"], preview["rows_rejected"]) == (4, 1)
    assert [(e["row"], e["column"]) for e in preview["errors"]] == [(4, "time")]
    assert ImportBatch.objects.count() == before
    assert _events(warehouse) == 0
    assert list(uploads.iterdir()) == []


def test_a_preview_of_an_unreadable_file_is_a_bad_file(world: World, uploads: Path) -> None:
    response = Api(world.granted).post(
        f"/api/sources/{world.shop.pk}/imports/preview", data={"file": GARBAGE}
    )

    assert_error(response, 422, "bad_file")
    assert list(uploads.iterdir()) == []


def test_a_rollback_removes_exactly_the_batch(world: World, warehouse: Warehouse) -> None:
    api = Api(world.granted)
    kept = _import(api, world).json()
    other = _import(
        api,
        world,
        file=csv_upload(RENAMED_CSV, name="other.csv"),
        mapping_spec=json.dumps(RENAMED_SPEC),
    ).json()
    assert other["status"] == "done", other["error"]

    response = api.post(f"/api/imports/{kept['id']}/rollback")

    assert response.status_code == 200, response.content
    rolled = response.json()
    assert rolled["status"] == "rolled_back"
    assert rolled["rows_removed"] == 3
    assert rolled["rolled_back_by"] == "gina"
    assert _events(warehouse, kept["id"]) == 0
    assert _events(warehouse, other["id"]) == 2


def test_a_batch_is_rolled_back_only_once(world: World) -> None:
    api = Api(world.granted)
    batch = _import(api, world).json()
    assert api.post(f"/api/imports/{batch['id']}/rollback").status_code == 200

    again = api.post(f"/api/imports/{batch['id']}/rollback")

    error = assert_error(again, 422, "invalid")
    assert "rolled_back" in error["message"]
