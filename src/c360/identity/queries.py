"""Reading the identity map: a person's identifiers, why they are linked, and their rows."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from c360.identity.normalise import normalise_one
from c360.identity.rules import label, rank

if TYPE_CHECKING:
    from c360.warehouse import Warehouse

_KEY_COLUMN = {"events": "event_id"}


def _warehouse(warehouse: Warehouse | None) -> Warehouse:
    if warehouse is not None:
        return warehouse
    from c360.warehouse import get_warehouse

    return get_warehouse()


def _source_names(source_ids: Collection[int]) -> dict[int, str]:
    from c360.sources.models import DataSource

    return dict(DataSource.objects.filter(id__in=list(source_ids)).values_list("id", "name"))


def person_of(id_type: str, value: str, *, warehouse: Warehouse | None = None) -> str | None:
    """The person an identifier belongs to (the value is normalised first); None if none."""
    normalised = normalise_one(id_type, value)
    if normalised is None:
        return None
    identity_map = _warehouse(warehouse).table("identity_map")
    found = identity_map.filter(
        (identity_map.id_type == id_type) & (identity_map.id_value == normalised)
    ).person_id.execute()
    return None if found.empty or found.iloc[0] is None else str(found.iloc[0])


def _appearances(wh: Warehouse, person_id: str, source_ids: Collection[int] | None) -> ir.Table:
    """The identifier rows of the person's records whose identifier is the person's own."""
    rows = wh.table("profile_identifiers")
    mine = rows.filter((rows.person_id == person_id) & (rows.map_person_id == person_id))
    if source_ids is not None:
        mine = mine.filter(mine.source_id.isin(list(source_ids)))
    return mine


def _run(
    wh: Warehouse, build: Any, person_id: str, source_ids: Collection[int] | None
) -> list[dict[str, Any]]:
    """Rows of a per-person query; with sources given (every profile read) it is compiled
    once and then only bound (Warehouse.query)."""
    if source_ids is None:
        return list(build(wh, person_id=person_id, source_ids=None).to_pyarrow().to_pylist())
    params: dict[str, str | int | list[int] | list[str]] = {
        "person_id": person_id,
        "source_ids": sorted(source_ids),
    }
    return list(wh.query(build, params=params).to_pylist())


def _identifiers_per_source(
    wh: Warehouse, *, person_id: str, source_ids: Collection[int] | None
) -> ir.Table:
    seen = _appearances(wh, person_id, source_ids)
    return seen.group_by(
        ["id_type", "id_value", "linked", "reason", "source_id", "record_table"]
    ).agg(
        count=seen.count(),
        first_seen=seen.ingested_at.min(),
        last_seen=seen.ingested_at.max(),
    )


def _pairs(wh: Warehouse, *, person_id: str, source_ids: Collection[int] | None) -> ir.Table:
    """Pairs of the person's linked identifiers on one record, with how many rows."""
    seen = _appearances(wh, person_id, source_ids).filter(ibis._.linked)
    mine = seen.select("id_type", "id_value", "source_id", "record_table", "record_id")
    other = mine.rename(
        other_type="id_type", other_value="id_value", other_source="source_id"
    ).select("other_type", "other_value", "record_table", "record_id")
    pairs = mine.join(other, ["record_table", "record_id"]).filter(
        lambda t: (t.id_type != t.other_type) | (t.id_value != t.other_value)
    )
    return pairs.group_by(
        ["id_type", "id_value", "other_type", "other_value", "source_id", "record_table"]
    ).agg(rows=pairs.count())


def person_identifiers(
    person_id: str,
    *,
    warehouse: Warehouse | None = None,
    source_ids: Collection[int] | None = None,
    source_names: dict[int, str] | None = None,
) -> list[dict[str, Any]]:
    """The person's identifiers, highest priority first, each with where it was seen.

    source_ids limits the sources counted (those the viewer may see); an identifier seen only
    in other sources is left out.
    """
    wh = _warehouse(warehouse)
    per_source = _run(wh, _identifiers_per_source, person_id, source_ids)
    names = (
        source_names
        if source_names is not None
        else _source_names({row["source_id"] for row in per_source})
    )
    by_identifier: dict[tuple[str, str], dict[str, Any]] = {}
    for row in per_source:  # one row per identifier and source: a person's few, not all rows
        entry = by_identifier.setdefault(
            (row["id_type"], row["id_value"]),
            {
                "id_type": row["id_type"],
                "id_value": row["id_value"],
                "linked": row["linked"],
                "reason": row["reason"],
                "sources": [],
            },
        )
        entry["sources"].append(
            {
                "source_id": row["source_id"],
                "source_name": names.get(row["source_id"]),
                "record_table": row["record_table"],
                "count": row["count"],
                "first_seen": row["first_seen"],
                "last_seen": row["last_seen"],
            }
        )
    for entry in by_identifier.values():
        entry["sources"].sort(key=lambda s: (s["source_name"] or "", s["record_table"]))
    return sorted(by_identifier.values(), key=lambda e: (rank(e["id_type"]), e["id_value"]))


def explain_links(
    person_id: str,
    *,
    warehouse: Warehouse | None = None,
    source_ids: Collection[int] | None = None,
    source_names: dict[int, str] | None = None,
) -> list[str]:
    """Sentences saying why the person's identifiers belong together, and which were kept out.

    "linked because e-mail a@b.c appears in Web logs (events) and in Orders (orders)" for an
    identifier seen in several sources; "anonymous id a1 appears with customer id C1 on 2 rows
    of Web logs (events)" for one tied to a stronger identifier on the same rows.
    """
    wh = _warehouse(warehouse)
    identifiers = person_identifiers(
        person_id, warehouse=wh, source_ids=source_ids, source_names=source_names
    )

    def where(source: dict[str, Any]) -> str:
        name = source["source_name"] or f"source {source['source_id']}"
        return f"{name} ({source['record_table']})"

    sentences = []
    for entry in identifiers:
        what = f"{label(entry['id_type'])} {entry['id_value']}"
        if not entry["linked"]:
            sentences.append(f"not linked: {entry['reason']}")
            continue
        places = list(dict.fromkeys(where(s) for s in entry["sources"]))
        if len(places) > 1:
            listed = " and in ".join([", ".join(places[:-1]), places[-1]])
            sentences.append(f"linked because {what} appears in {listed}")
    sentences.extend(_pair_sentences(wh, person_id, source_ids, source_names))
    return sentences


def _pair_sentences(
    wh: Warehouse,
    person_id: str,
    source_ids: Collection[int] | None,
    source_names: dict[int, str] | None,
) -> list[str]:
    """For each linked identifier but the anchor: the strongest one it shares rows with."""
    together = _run(wh, _pairs, person_id, source_ids)
    names = (
        source_names
        if source_names is not None
        else _source_names({row["source_id"] for row in together})
    )
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in together:  # pairs among one person's identifiers: few
        key = (row["id_type"], row["id_value"])
        mine_rank = (rank(row["id_type"]), row["id_value"])
        other_rank = (rank(row["other_type"]), row["other_value"])
        if other_rank >= mine_rank:
            continue  # explained by a stronger identifier, or it is the stronger one
        candidate = (other_rank, -row["rows"])
        current = best.get(key)
        if current is None or candidate < current["order"]:
            best[key] = {**row, "order": candidate}
    sentences = []
    for (id_type, id_value), row in sorted(best.items(), key=lambda kv: (rank(kv[0][0]), kv[0][1])):
        name = names.get(row["source_id"]) or f"source {row['source_id']}"
        rows = "1 row" if row["rows"] == 1 else f"{row['rows']} rows"
        sentences.append(
            f"linked because {label(id_type)} {id_value} appears with "
            f"{label(row['other_type'])} {row['other_value']} on {rows} of "
            f"{name} ({row['record_table']})"
        )
    return sentences


def record_ids(
    person_id: str,
    table: str,
    *,
    warehouse: Warehouse | None = None,
    source_ids: Collection[int] | None = None,
) -> ir.Table:
    """The person's rows in `table` (an Ibis expression over the warehouse table)."""
    wh = _warehouse(warehouse)
    identity_map = wh.table("identity_map")
    identifiers = wh.table("identifiers")
    mine = identity_map.filter(identity_map.person_id == person_id).select("id_type", "id_value")
    found = identifiers.filter(identifiers.record_table == table).semi_join(
        mine, ["id_type", "id_value"]
    )
    key = _KEY_COLUMN.get(table, "record_id")
    rows = wh.table(table)
    if source_ids is not None:
        rows = rows.filter(rows.source_id.isin(list(source_ids)))
    return rows.semi_join(found.select(found.record_id.name(key)).distinct(), key)
