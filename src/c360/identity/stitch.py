"""Stitching identifiers into people, as Ibis expressions that run on any Ibis backend.

The graph: identifiers are nodes; a record (a row of events, customers, orders) links every
identifier on it. People are the connected components after the merge rules:

1. blocked values are no node at all (person NULL);
2. in a component holding more values of a type T than T's limit, a seeded search from the
   T values gives every other identifier its nearest T values. An identifier whose nearest
   T values outnumber the limit (a household phone next to 3 customer ids) is cut out and
   becomes a person of its own; a record whose identifiers lead to more T values than the
   limit links nothing. With a limit of 1 no person can hold two T values afterwards.
3. the connected components of what is left, by label propagation; the label is the smallest
   node key, and keys sort by type priority first, so the label is the anchor.

Every step works per component of the graph without the rules, so stitching a union of whole
components gives the same rows as stitching everything: incremental updates rely on that.
Python loops run over iterations and identifier types, never over rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from c360.identity.rules import LABELS, PRIORITY, MergeRules, label, rank

# The node key: "<2-digit rank>|<type>:<value>". The smallest key of a component is its anchor.
_KEY_SEP = "|"
MAP_COLUMNS = ("id_type", "id_value", "person_id", "linked", "reason")


def node_key(id_type: ir.StringValue, id_value: ir.StringValue) -> ir.StringValue:
    ranks = ibis.cases(
        *((id_type == name, f"{position:02d}") for position, name in enumerate(PRIORITY, 1)),
        else_=f"{len(PRIORITY) + 1:02d}",
    )
    return ranks.concat(_KEY_SEP, id_type, ":", id_value)


def person_id_of(key: ir.StringValue) -> ir.StringValue:
    """'p_' + the first 16 hex of md5("<type>:<value>") of the anchor."""
    return ibis.literal("p_").concat(key.substr(3).hexdigest("md5").substr(0, 16))


def _type_label(id_type: ir.StringValue, *, plural: bool) -> ir.StringValue:
    return ibis.cases(
        *((id_type == name, names[1 if plural else 0]) for name, names in LABELS.items()),
        else_=id_type.replace("_", " "),
    )


def blocked(
    rules: MergeRules, id_type: ir.StringValue, id_value: ir.StringValue
) -> ir.BooleanValue:
    value = id_value.lower()
    zeros = value.re_search(r"^[+]?0+$") | (
        (id_type == "phone") & value.re_search(rf"^[+]{rules.phone_country_code}0+$")
    )
    return value.isin(list(rules.blocked)) | zeros


class Scratch:
    """Intermediate tables of one stitching run, dropped when it ends.

    Each iteration is written to a table rather than cached: on PySpark a cached DataFrame
    keeps its whole lineage, which grows with every round until planning alone exhausts the
    driver, while a table starts afresh.
    """

    def __init__(self) -> None:
        self._tables: list[tuple[Any, str]] = []

    def keep(self, expr: ir.Table) -> ir.Table:
        backend = ibis.get_backend(expr)
        name = f"_c360_stitch_{uuid.uuid4().hex[:12]}"
        try:
            table = backend.create_table(name, expr, temp=True)
        except NotImplementedError:  # PySpark: no temporary tables
            table = backend.create_table(name, expr)
        self._tables.append((backend, name))
        return table

    def drop(self) -> None:
        for backend, name in reversed(self._tables):
            backend.drop_table(name, force=True)
        self._tables.clear()


@contextmanager
def scratch() -> Iterator[Scratch]:
    held = Scratch()
    try:
        yield held
    finally:
        held.drop()


def components(
    membership: ir.Table, nodes: ir.Table, held: Scratch, *, max_rounds: int = 1000
) -> ir.Table:
    """node -> label (the smallest node key it is connected to) by label propagation.

    membership: (record, node); nodes: (node) every node to label, linked or not.
    """
    labels = held.keep(nodes.select("node", label=nodes.node).distinct())
    for _ in range(max_rounds):
        by_record = (
            membership.join(labels, "node").group_by("record").agg(record_label=labels.label.min())
        )
        offered = (
            membership.join(by_record, "record")
            .group_by("node")
            .agg(offer=by_record.record_label.min())
        )
        joined = labels.left_join(offered, labels.node == offered.node)
        new = held.keep(
            joined.select(
                node=joined.node,
                label=ibis.least(joined.label, joined.offer.fill_null(joined.label)),
                changed=joined.offer.notnull() & (joined.offer < joined.label),
            ),
        )
        changes = int(new.changed.sum().fill_null(0).execute())
        labels = new.select("node", "label")
        if changes == 0:
            return labels
    raise RuntimeError(f"label propagation did not settle in {max_rounds} rounds")


def _seeded_cuts(
    membership: ir.Table, id_type: str, limit: int, held: Scratch, *, max_rounds: int = 1000
) -> tuple[ir.Table, ir.Table]:
    """Nodes and records that would join more than `limit` values of `id_type`.

    membership: (record, node, id_type). Returns (cut nodes: node, shared_by; dropped records:
    record). Every node reached from a seed keeps the seeds found at its smallest distance; a
    node with more than `limit` of them is cut and does not pass them on.
    """
    seeds = membership.filter(membership.id_type == id_type).select("node").distinct()
    reached = held.keep(seeds.select("node", seed=seeds.node, shared_by=ibis.literal(1, "int64")))
    frontier = reached.select("node", "seed")
    for _ in range(max_rounds):
        via = frontier.join(membership, "node").select("record", "seed").distinct()
        offered = via.join(membership, "record").select("node", "seed").distinct()
        offered = offered.anti_join(reached, "node")
        counted = offered.group_by("node").agg(shared_by=offered.seed.nunique())
        step = held.keep(offered.join(counted, "node").select("node", "seed", "shared_by"))
        if int(step.count().execute()) == 0:
            break
        reached = held.keep(
            reached.cast({"shared_by": "int64"}).union(step.cast({"shared_by": "int64"}))
        )
        frontier = step.filter(step.shared_by <= limit).select("node", "seed")
    else:
        raise RuntimeError(f"the {id_type} search did not settle in {max_rounds} rounds")
    cut = reached.filter(reached.shared_by > limit).select("node", "shared_by").distinct()
    kept = reached.filter(reached.shared_by <= limit).select("node", "seed")
    linked = membership.anti_join(cut, "node").join(kept, "node")
    dropped = (
        linked.group_by("record")
        .agg(seeds=linked.seed.nunique())
        .filter(lambda t: t.seeds > limit)
        .select("record")
    )
    return cut, dropped


def stitch(identifiers: ir.Table, *, rules: MergeRules) -> pa.Table:
    """The identity rows for every identifier in `identifiers`, executed into a pyarrow Table.

    identifiers: rows with record_table, record_id, id_type, id_value (the warehouse's
    `identifiers` table or part of it). Returns id_type, id_value, person_id, linked, reason,
    ordered by id_type and id_value.
    """
    with scratch() as held:
        return _stitch(identifiers, rules, held).to_pyarrow()


def _stitch(identifiers: ir.Table, rules: MergeRules, held: Scratch) -> ir.Table:
    rows = identifiers.select(
        record=identifiers.record_table.concat(":", identifiers.record_id),
        id_type=identifiers.id_type,
        id_value=identifiers.id_value,
    ).distinct()
    nodes = rows.select("id_type", "id_value").distinct()
    nodes = held.keep(
        nodes.mutate(
            node=node_key(nodes.id_type, nodes.id_value),
            blocked=blocked(rules, nodes.id_type, nodes.id_value),
        ),
    )
    open_nodes = nodes.filter(~nodes.blocked)
    membership = held.keep(
        rows.join(open_nodes, ["id_type", "id_value"]).select("record", "node", "id_type"),
    )
    whole = held.keep(components(membership.select("record", "node"), open_nodes, held))

    # Components holding more values of a type than its limit, type by type in priority order.
    with_label = membership.join(whole, "node")
    sizes = with_label.group_by(["label", "id_type"]).agg(values=with_label.node.nunique())
    limit_of = ibis.cases(
        *((sizes.id_type == name, limit) for name, limit in rules.limits.items()),
        else_=ibis.null("int64"),
    )
    over = held.keep(sizes.filter(sizes["values"] > limit_of).select("label", "id_type"))
    over_types = set(over.id_type.to_pyarrow().to_pylist())
    cut_parts: list[ir.Table] = []
    dropped_parts: list[ir.Table] = []
    remaining = membership
    for id_type in sorted(over_types, key=rank):
        limit = rules.limits[id_type]
        labels = over.filter(over.id_type == id_type).select("label")
        scope = (
            remaining.join(whole, "node")
            .semi_join(labels, "label")
            .select("record", "node", "id_type")
        )
        cut, dropped = _seeded_cuts(scope, id_type, limit, held)
        cut = held.keep(
            cut.mutate(reason_type=ibis.literal(id_type), reason_limit=ibis.literal(limit)),
        )
        dropped = held.keep(dropped)
        cut_parts.append(cut)
        dropped_parts.append(dropped)
        remaining = remaining.anti_join(cut, "node").anti_join(dropped, "record")

    if cut_parts:
        cut_all = held.keep(ibis.union(*cut_parts, distinct=False))
        # A node cut for two types keeps the reason of the higher-priority one (cut first).
        cut_all = cut_all.filter(
            ibis.row_number().over(
                group_by=cut_all.node,
                order_by=node_key(cut_all.reason_type, ibis.literal("")),
            )
            == 0
        )
    else:
        cut_all = None
    linked_nodes = open_nodes if cut_all is None else open_nodes.anti_join(cut_all, "node")
    people = components(remaining.select("record", "node"), linked_nodes, held)

    linked_rows = nodes.join(people, "node").select(
        "id_type",
        "id_value",
        person_id=person_id_of(people.label),
        linked=ibis.literal(True),
        reason=ibis.null("string"),
    )
    blocked_rows = nodes.filter(nodes.blocked).select(
        "id_type",
        "id_value",
        person_id=ibis.null("string"),
        linked=ibis.literal(False),
        reason=_type_label(nodes.id_type, plural=False).concat(
            " ", nodes.id_value, " is a blocked value and links no one"
        ),
    )
    parts = [linked_rows, blocked_rows]
    if cut_all is not None:
        cut_rows = nodes.join(cut_all, "node")
        parts.append(
            cut_rows.select(
                "id_type",
                "id_value",
                person_id=person_id_of(cut_rows.node),
                linked=ibis.literal(False),
                reason=_type_label(cut_rows.id_type, plural=False).concat(
                    " ",
                    cut_rows.id_value,
                    " is shared by ",
                    cut_rows.shared_by.cast("string"),
                    " ",
                    _type_label(cut_rows.reason_type, plural=True),
                    "; the limit is ",
                    cut_rows.reason_limit.cast("string"),
                    " per person",
                ),
            )
        )
    result = ibis.union(*parts, distinct=False)
    return result.order_by(["id_type", "id_value"])


__all__ = ["MAP_COLUMNS", "blocked", "components", "label", "node_key", "person_id_of", "stitch"]
