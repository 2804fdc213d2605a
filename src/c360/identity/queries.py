"""Reading the identity map: a person's identifiers, why they are linked, and their rows."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

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


_APPEARANCE_COLUMNS = (
    "id_type",
    "id_value",
    "linked",
    "reason",
    "source_id",
    "record_table",
    "record_id",
    "ingested_at",
)


def _appearance_rows(
    wh: Warehouse, *, person_id: str, source_ids: Collection[int] | None
) -> ir.Table:
    return _appearances(wh, person_id, source_ids).select(*_APPEARANCE_COLUMNS)


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
    rows = _run(_warehouse(warehouse), _appearance_rows, person_id, source_ids)
    names = source_names if source_names is not None else _source_names(_sources_in(rows))
    return _identifiers_of(rows, names)


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
    rows = _run(_warehouse(warehouse), _appearance_rows, person_id, source_ids)
    names = source_names if source_names is not None else _source_names(_sources_in(rows))
    return link_sentences(rows, source_names=names)


def link_sentences(appearances: list[dict[str, Any]], *, source_names: dict[int, str]) -> list[str]:
    """explain_links over rows already read: the identifier rows of the person's records whose
    identifier is the person's own (profile_identifiers rows with map_person_id = person_id),
    each with id_type, id_value, linked, reason, source_id, record_table and record_id.

    A profile reads those rows once for its identifiers and its explanations alike.
    """

    def where(source: dict[str, Any]) -> str:
        name = source["source_name"] or f"source {source['source_id']}"
        return f"{name} ({source['record_table']})"

    sentences = []
    for entry in _identifiers_of(appearances, source_names):
        what = f"{label(entry['id_type'])} {entry['id_value']}"
        if not entry["linked"]:
            sentences.append(f"not linked: {entry['reason']}")
            continue
        places = list(dict.fromkeys(where(s) for s in entry["sources"]))
        if len(places) > 1:
            listed = " and in ".join([", ".join(places[:-1]), places[-1]])
            sentences.append(f"linked because {what} appears in {listed}")
    sentences.extend(_pair_sentences(appearances, source_names))
    return sentences


def _sources_in(rows: list[dict[str, Any]]) -> set[int]:
    return {row["source_id"] for row in rows}


def _identifiers_of(
    appearances: list[dict[str, Any]], names: dict[int, str]
) -> list[dict[str, Any]]:
    """The appearances per identifier and (source, table): how many rows, first and last seen."""
    by_identifier: dict[tuple[str, str], dict[str, Any]] = {}
    per_source: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for row in appearances:  # one person's rows: a few dozen, not the table
        key = (row["id_type"], row["id_value"])
        entry = by_identifier.get(key)
        if entry is None:
            entry = by_identifier[key] = {
                "id_type": row["id_type"],
                "id_value": row["id_value"],
                "linked": row["linked"],
                "reason": row["reason"],
                "sources": [],
            }
        place = (*key, row["source_id"], row["record_table"])
        source = per_source.get(place)
        if source is None:
            source = per_source[place] = {
                "source_id": row["source_id"],
                "source_name": names.get(row["source_id"]),
                "record_table": row["record_table"],
                "count": 0,
                "first_seen": None,
                "last_seen": None,
            }
            entry["sources"].append(source)
        source["count"] += 1
        seen = row["ingested_at"]
        if seen is not None:
            if source["first_seen"] is None or seen < source["first_seen"]:
                source["first_seen"] = seen
            if source["last_seen"] is None or seen > source["last_seen"]:
                source["last_seen"] = seen
    for entry in by_identifier.values():
        entry["sources"].sort(key=lambda s: (s["source_name"] or "", s["record_table"]))
    return sorted(by_identifier.values(), key=lambda e: (rank(e["id_type"]), e["id_value"]))


def _pair_sentences(appearances: list[dict[str, Any]], names: dict[int, str]) -> list[str]:
    """For each linked identifier but the anchor: the strongest one it shares rows with."""
    on_record: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in appearances:
        if row["linked"]:
            on_record.setdefault((row["record_table"], row["record_id"]), []).append(row)
    # Pairs of the person's linked identifiers on one record, with how many rows.
    together: dict[tuple[str, str, str, str, int, str], int] = {}
    for (record_table, _), rows in on_record.items():
        for mine in rows:
            for other in rows:
                if (mine["id_type"], mine["id_value"]) == (other["id_type"], other["id_value"]):
                    continue
                pair = (
                    mine["id_type"],
                    mine["id_value"],
                    other["id_type"],
                    other["id_value"],
                    mine["source_id"],
                    record_table,
                )
                together[pair] = together.get(pair, 0) + 1
    best: dict[tuple[str, str], tuple[Any, ...]] = {}
    for pair, count in sorted(together.items()):  # pairs among one person's identifiers: few
        id_type, id_value, other_type, other_value, _, _ = pair
        mine_rank = (rank(id_type), id_value)
        other_rank = (rank(other_type), other_value)
        if other_rank >= mine_rank:
            continue  # explained by a stronger identifier, or it is the stronger one
        candidate = (other_rank, -count, pair)
        current = best.get((id_type, id_value))
        if current is None or candidate < current:
            best[(id_type, id_value)] = candidate
    sentences = []
    for (id_type, id_value), (_, minus_rows, pair) in sorted(
        best.items(), key=lambda kv: (rank(kv[0][0]), kv[0][1])
    ):
        _, _, other_type, other_value, source_id, record_table = pair
        name = names.get(source_id) or f"source {source_id}"
        rows_text = "1 row" if minus_rows == -1 else f"{-minus_rows} rows"
        sentences.append(
            f"linked because {label(id_type)} {id_value} appears with "
            f"{label(other_type)} {other_value} on {rows_text} of {name} ({record_table})"
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
