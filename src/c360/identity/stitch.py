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


def _edges(member: ir.Table, record: list[str]) -> ir.Table:
    """The links of the graph as pairs of node numbers (a, b).

    member: one row per (record, nid). A record with several identifiers links each of them to
    its smallest one, a star with the same components as linking every pair. A record with a
    single identifier links nothing and leaves no edge: most events are such records, so the
    label propagation below runs on far fewer rows than there are identifiers.
    """
    per_record = member.group_by(record).agg(first=member.nid.min(), n=member.nid.count())
    linking = per_record.filter(per_record.n > 1)
    joined = member.join(linking, record)
    return joined.filter(joined.nid != joined.first).select(a=joined.first, b=joined.nid).distinct()


def components(edges: ir.Table, held: Scratch, *, max_rounds: int = 1000) -> ir.Table:
    """nid -> label (the smallest nid it is connected to) by label propagation over `edges`.

    Nodes without an edge are not in the result: each is a component of its own.
    """
    edges = held.keep(edges)
    ends = edges.select(nid=edges.a).union(edges.select(nid=edges.b), distinct=True)
    labels = held.keep(ends.select("nid", label=ends.nid))
    for _ in range(max_rounds):
        at_a = labels.select(a=labels.nid, label_a=labels.label)
        at_b = labels.select(b=labels.nid, label_b=labels.label)
        both = edges.join(at_a, "a").join(at_b, "b")
        smaller = ibis.least(both.label_a, both.label_b)
        offers = both.select(nid=both.a, offer=smaller).union(
            both.select(nid=both.b, offer=smaller), distinct=False
        )
        best = offers.group_by("nid").agg(offer=offers.offer.min())
        joined = labels.join(best, "nid")
        stepped = held.keep(
            joined.select(
                "nid",
                label=ibis.least(joined.label, joined.offer),
                changed=joined.offer < joined.label,
            )
        )
        changes = int(stepped.changed.sum().fill_null(0).execute())
        # Pointer jumping: a node takes its label's label, so long chains settle in
        # logarithmically many rounds instead of one round per link.
        hop = stepped.select(label=stepped.nid, jumped=stepped.label)
        jumped = stepped.left_join(hop, "label")
        labels = held.keep(
            jumped.select(
                nid=jumped.nid,
                label=ibis.least(jumped.label, jumped.jumped.fill_null(jumped.label)),
            )
        )
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

    For tests and small inputs; the identity update keeps the rows in the warehouse
    (people()). Returns id_type, id_value, person_id, linked, reason, ordered by id_type and
    id_value.
    """
    with scratch() as held:
        rows = people(identifiers, rules=rules, held=held)
        return rows.select(*MAP_COLUMNS).order_by(["id_type", "id_value"]).to_pyarrow()


def people(identifiers: ir.Table, *, rules: MergeRules, held: Scratch) -> ir.Table:
    """The identity rows (MAP_COLUMNS plus `records`) of every identifier in `identifiers`.

    identifiers: rows with record_table, record_id, id_type, id_value (the warehouse's
    `identifiers` table or whole components of it). The result stays in the warehouse, in
    tables of `held`.
    """
    # Nodes are numbered in node-key order, so the smallest number of a component is its
    # anchor, and every join below is on integers rather than strings.
    counted = identifiers.group_by(["id_type", "id_value"]).agg(records=ibis._.count())
    keyed = counted.mutate(
        key=node_key(counted.id_type, counted.id_value),
        blocked=blocked(rules, counted.id_type, counted.id_value),
    )
    nodes = held.keep(keyed.mutate(nid=ibis.row_number().over(order_by=keyed.key)))
    open_nodes = nodes.filter(~nodes.blocked)
    member = held.keep(
        identifiers.join(open_nodes, ["id_type", "id_value"]).select(
            "record_table", "record_id", "nid"
        )
    )
    record = ["record_table", "record_id"]
    whole = components(_edges(member, record), held)

    # Components holding more values of a type than its limit, type by type in priority order.
    types = nodes.select("nid", "id_type")
    typed = whole.join(types, "nid")
    sizes = typed.group_by(["label", "id_type"]).agg(values=typed.nid.count())
    limit_of = ibis.cases(
        *((sizes.id_type == name, limit) for name, limit in rules.limits.items()),
        else_=ibis.null("int64"),
    )
    over = held.keep(sizes.filter(sizes["values"] > limit_of).select("label", "id_type"))
    over_types = set(over.id_type.to_pyarrow().to_pylist())
    labels = whole
    cut_all = None
    if over_types:
        over_nodes = held.keep(whole.semi_join(over.select("label"), "label").select("nid"))
        scoped = member.semi_join(over_nodes, "nid").join(types, "nid")
        # Only the few components over a limit are searched record by record.
        membership = held.keep(
            scoped.select(
                record=scoped.record_table.concat(":", scoped.record_id),
                node=scoped.nid,
                id_type=scoped.id_type,
            )
        )
        with_label = whole.select(node=whole.nid, label=whole.label)
        cut_parts: list[ir.Table] = []
        remaining = membership
        for id_type in sorted(over_types, key=rank):
            limit = rules.limits[id_type]
            over_labels = over.filter(over.id_type == id_type).select("label")
            scope = (
                remaining.join(with_label, "node")
                .semi_join(over_labels, "label")
                .select("record", "node", "id_type")
            )
            cut, dropped = _seeded_cuts(scope, id_type, limit, held)
            cut = held.keep(
                cut.mutate(reason_type=ibis.literal(id_type), reason_limit=ibis.literal(limit))
            )
            cut_parts.append(cut)
            remaining = held.keep(
                remaining.anti_join(cut, "node").anti_join(held.keep(dropped), "record")
            )
        cut_all = held.keep(ibis.union(*cut_parts, distinct=False))
        # A node cut for two types keeps the reason of the higher-priority one (cut first).
        cut_all = cut_all.filter(
            ibis.row_number().over(
                group_by=cut_all.node,
                order_by=node_key(cut_all.reason_type, ibis.literal("")),
            )
            == 0
        )
        regrouped = components(
            _edges(remaining.select("record", nid=remaining.node), ["record"]), held
        )
        labels = held.keep(whole.anti_join(over_nodes, "nid").union(regrouped, distinct=False))

    cut_nodes = None if cut_all is None else cut_all.select(nid=cut_all.node)
    linked_nodes = open_nodes if cut_nodes is None else open_nodes.anti_join(cut_nodes, "nid")
    labelled = linked_nodes.left_join(labels, "nid")
    labelled = held.keep(
        labelled.select(
            "id_type", "id_value", "records", label=labelled.label.fill_null(labelled.nid)
        )
    )
    anchors = nodes.view()
    anchors = anchors.select(label=anchors.nid, anchor=anchors.key)
    anchored = labelled.join(anchors, "label")
    linked_rows = anchored.select(
        "id_type",
        "id_value",
        person_id=person_id_of(anchored.anchor),
        linked=ibis.literal(True),
        reason=ibis.null("string"),
        records=anchored.records,
    )
    blocked_rows = nodes.filter(nodes.blocked).select(
        "id_type",
        "id_value",
        person_id=ibis.null("string"),
        linked=ibis.literal(False),
        reason=_type_label(nodes.id_type, plural=False).concat(
            " ", nodes.id_value, " is a blocked value and links no one"
        ),
        records="records",
    )
    parts = [linked_rows, blocked_rows]
    if cut_all is not None:
        cut_rows = nodes.join(cut_all, nodes.nid == cut_all.node)
        parts.append(
            cut_rows.select(
                "id_type",
                "id_value",
                person_id=person_id_of(cut_rows.key),
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
                records="records",
            )
        )
    return ibis.union(*parts, distinct=False)


__all__ = [
    "MAP_COLUMNS",
    "blocked",
    "components",
    "label",
    "node_key",
    "people",
    "person_id_of",
    "stitch",
]
