"""The API contract: /api/openapi.json equals the committed snapshot, so no change is accidental.

After a deliberate change, regenerate the snapshot and commit it with the change:

    C360_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_openapi_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

SNAPSHOT = Path(__file__).parent / "snapshots" / "openapi.json"
UPDATE = os.environ.get("C360_UPDATE_SNAPSHOTS") == "1"
ERROR_REF = "#/components/schemas/ErrorOut"


def _schema() -> dict[str, Any]:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    # The package version changes with every release without changing the contract.
    schema["info"].pop("version")
    return schema


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.mark.django_db
def test_the_api_contract_matches_the_snapshot() -> None:
    schema = _schema()
    if UPDATE:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), f"no snapshot yet: run with C360_UPDATE_SNAPSHOTS=1 ({__doc__})"

    committed = json.loads(SNAPSHOT.read_text())

    assert schema == committed, (
        "The API contract changed. If that is on purpose, regenerate the snapshot with "
        "C360_UPDATE_SNAPSHOTS=1 and commit it with the change."
    )


@pytest.mark.django_db
def test_every_endpoint_states_who_may_use_it_and_its_refusals() -> None:
    for name, operation in _operations(_schema()):
        assert operation.get("operationId"), name
        assert operation.get("description", "").startswith("Who: "), name
        responses = operation["responses"]
        assert "401" in responses, name
        for status, response in responses.items():
            if status.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, f"{name} {status}"
