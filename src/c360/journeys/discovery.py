"""Process discovery with pm4py on counts made in the warehouse.

pm4py runs the algorithms; it never sees the event log. The Alpha miner and IMd start from
the warehouse's directly-follows graph, the Heuristic miner from that graph plus the counts of
activities two apart and of triples, IMf from the variants with their counts (a compressed log,
used while the log has few enough variants). Quality is token-based replay of the variants,
each weighted by its number of cases, within a time budget.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis.expr.types as ir

from c360.journeys import queries

ALGORITHMS = ("alpha", "heuristics", "inductive")
INDUCTIVE_VARIANTS = ("auto", "IMd", "IMf")
# IMf reads every variant; past this many it would be slower than the DFG-based IMd.
IMF_MAX_VARIANTS = 20_000
# Replay reads the most frequent variants first; past this many the rest is left out.
QUALITY_MAX_VARIANTS = 50_000
_REPLAY_CHUNK = 100  # variants replayed between two looks at the clock


@dataclass(frozen=True)
class DiscoveryParams:
    algorithm: str = "inductive"
    # Heuristic miner
    dependency_threshold: float = 0.5
    and_threshold: float = 0.65
    loop_two_threshold: float = 0.5
    min_activity_count: int = 1
    min_edge_frequency: int = 1
    # Inductive miner
    inductive_variant: str = "auto"
    noise_threshold: float = 0.0
    # Quality (token-based replay) and soundness
    quality: bool = True
    time_limit_s: float = 60.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscoveryParams:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"params: unknown field(s) {unknown}; expected {sorted(known)}")
        params = cls(**data)
        params.check()
        return params

    def check(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"algorithm: expected one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}"
            )
        if self.inductive_variant not in INDUCTIVE_VARIANTS:
            raise ValueError(
                f"inductive_variant: expected one of {', '.join(INDUCTIVE_VARIANTS)}, "
                f"got {self.inductive_variant!r}"
            )
        for name in ("dependency_threshold", "and_threshold", "loop_two_threshold"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not -1.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a number from -1 to 1, got {value!r}")
        if not isinstance(self.noise_threshold, int | float) or not 0 <= self.noise_threshold < 1:
            raise ValueError(
                f"noise_threshold: expected a number from 0 up to 1, got {self.noise_threshold!r}"
            )
        for name in ("min_activity_count", "min_edge_frequency"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a whole number of at least 1, got {value!r}")
        if not isinstance(self.time_limit_s, int | float) or not 0 < self.time_limit_s <= 3600:
            raise ValueError(
                f"time_limit_s: expected seconds from 0 to 3600, got {self.time_limit_s!r}"
            )


@dataclass
class Quality:
    fitness: float | None  # token-based replay, weighted by cases
    precision: float | None  # escaping edges (ETConformance) on the replayed prefixes
    fitting_cases: float | None  # share of replayed cases that fit the model perfectly
    replayed_variants: int
    total_variants: int
    replayed_cases: int
    total_cases: int
    cut_short: bool  # the time budget ran out: figures are over the variants replayed
    seconds: float
    note: str = ""


@dataclass
class Model:
    """A discovered model as JSON-able data, with the pm4py objects for exports."""

    algorithm: str
    variant: str  # "alpha", "heuristics", "IMd" or "IMf"
    input: str  # what pm4py was given, in words
    places: list[dict[str, Any]]
    transitions: list[dict[str, Any]]
    arcs: list[dict[str, str]]
    process_tree: str | None
    sound: bool | None  # None when the check did not finish in time
    soundness_note: str
    quality: Quality | None
    seconds: float
    notes: list[str] = field(default_factory=list)
    net: Any = field(default=None, repr=False)  # (PetriNet, Marking, Marking)
    tree: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("net")
        data.pop("tree")
        return data


def _dfg_object(pmap: queries.ProcessMap) -> Any:
    from pm4py.objects.dfg.obj import DFG

    return DFG(pmap.graph, pmap.start_activities, pmap.end_activities)


def _variant_counts(log: ir.Table, limit: int) -> tuple[list[tuple[tuple[str, ...], int]], int]:
    found = queries.variants(log, limit=limit)
    return [(tuple(v.activities), v.cases) for v in found.variants], found.total_variants


def _alpha(pmap: queries.ProcessMap) -> tuple[Any, str]:
    from pm4py.algo.discovery.alpha.variants import classic as alpha

    net = alpha.apply_dfg_sa_ea(pmap.graph, pmap.start_activities, pmap.end_activities)
    return net, "the directly-follows graph with start and end activities"


def _heuristics(
    log: ir.Table, pmap: queries.ProcessMap, params: DiscoveryParams
) -> tuple[Any, str]:
    from pm4py.algo.discovery.heuristics.variants import classic as heuristics
    from pm4py.objects.conversion.heuristics_net import converter

    occurrences = {a.name: a.events for a in pmap.activities}
    heu_net = heuristics.apply_heu_dfg(
        pmap.graph,
        activities=list(occurrences),
        activities_occurrences=occurrences,
        start_activities=pmap.start_activities,
        end_activities=pmap.end_activities,
        dfg_window_2=queries.follows_at(log, 2),
        freq_triples=queries.triples(log),
        parameters={
            heuristics.Parameters.DEPENDENCY_THRESH: params.dependency_threshold,
            heuristics.Parameters.AND_MEASURE_THRESH: params.and_threshold,
            heuristics.Parameters.LOOP_LENGTH_TWO_THRESH: params.loop_two_threshold,
            heuristics.Parameters.MIN_ACT_COUNT: params.min_activity_count,
            heuristics.Parameters.MIN_DFG_OCCURRENCES: params.min_edge_frequency,
        },
    )
    return (
        converter.apply(heu_net),
        "the directly-follows graph, activity counts, activities two apart and triples",
    )


def _inductive(
    log: ir.Table, pmap: queries.ProcessMap, params: DiscoveryParams, notes: list[str]
) -> tuple[Any, Any, str, str]:
    from collections import Counter

    from pm4py.algo.discovery.inductive import algorithm as inductive
    from pm4py.algo.discovery.inductive.dtypes.im_ds import IMDataStructureUVCL
    from pm4py.algo.discovery.inductive.variants.imf import IMFUVCL
    from pm4py.objects.conversion.process_tree import converter
    from pm4py.objects.process_tree.utils.generic import fold, tree_sort

    variant = params.inductive_variant
    counts: list[tuple[tuple[str, ...], int]] = []
    if variant == "auto":
        # IMd by default: it needs only the DFG, whatever the size of the log. IMf is what
        # filters noise, so a noise threshold asks for it, while the variants are few enough.
        variant = "IMf" if params.noise_threshold > 0 else "IMd"
        if variant == "IMf":
            counts, total = _variant_counts(log, IMF_MAX_VARIANTS + 1)
            if total > IMF_MAX_VARIANTS:
                notes.append(
                    f"IMd was used: the log has {total:,} variants, more than the "
                    f"{IMF_MAX_VARIANTS:,} IMf reads; IMd does not filter noise"
                )
                variant = "IMd"
    elif variant == "IMf":
        counts, total = _variant_counts(log, IMF_MAX_VARIANTS + 1)
        if total > IMF_MAX_VARIANTS:
            raise ValueError(
                f"inductive_variant: IMf reads every variant and this log has {total:,}; "
                f"it runs up to {IMF_MAX_VARIANTS:,}, choose IMd (or auto)"
            )
    if variant == "IMf":
        # pm4py's inductive.apply() takes a variants Counter in its signature but not in its
        # code (it checks the type against a typing alias), so IMf is called as apply() does.
        uvcl = Counter(dict(counts))
        parameters = {"noise_threshold": params.noise_threshold}
        tree = fold(IMFUVCL(parameters).apply(IMDataStructureUVCL(uvcl), parameters))
        tree_sort(tree)
        what = f"{len(counts):,} variants with their case counts"
    else:
        tree = inductive.apply(_dfg_object(pmap), variant=inductive.Variants.IMd)
        what = "the directly-follows graph with start and end activities"
    return converter.apply(tree), tree, variant, what


def discover(
    log: ir.Table,
    params: DiscoveryParams | None = None,
    *,
    process_map: queries.ProcessMap | None = None,
) -> Model:
    """Discover a model of the log with one algorithm, and (optionally) measure it.

    `process_map` is the log's map when the caller has computed it already.
    """
    params = params or DiscoveryParams()
    params.check()
    began = time.monotonic()
    pmap = process_map if process_map is not None else queries.process_map(log)
    if not pmap.activities:
        raise ValueError("the event log is empty: no model can be discovered from no events")
    notes: list[str] = []
    tree = None
    if params.algorithm == "alpha":
        net, what = _alpha(pmap)
        variant = "alpha"
    elif params.algorithm == "heuristics":
        net, what = _heuristics(log, pmap, params)
        variant = "heuristics"
    else:
        net, tree, variant, what = _inductive(log, pmap, params, notes)
    places, transitions, arcs = _net_as_data(net)
    sound: bool | None
    if tree is not None:
        # Every process tree translates into a sound workflow net; Woflan would take seconds
        # to confirm it on a net with many silent transitions.
        sound, soundness_note = True, "a sound workflow net (by construction from a process tree)"
    else:
        sound, soundness_note = soundness(net, time_limit_s=min(10.0, params.time_limit_s))
    quality = measure(log, net, time_limit_s=params.time_limit_s) if params.quality else None
    return Model(
        algorithm=params.algorithm,
        variant=variant,
        input=what,
        places=places,
        transitions=transitions,
        arcs=arcs,
        process_tree=str(tree) if tree is not None else None,
        sound=sound,
        soundness_note=soundness_note,
        quality=quality,
        seconds=round(time.monotonic() - began, 3),
        notes=notes,
        net=net,
        tree=tree,
    )


def _net_as_data(
    net: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, str]]]:
    petri, initial, final = net
    ids: dict[int, str] = {}
    places = []
    for i, place in enumerate(sorted(petri.places, key=lambda p: str(p.name))):
        ids[id(place)] = f"p{i}"
        places.append(
            {
                "id": f"p{i}",
                "name": str(place.name),
                "initial": int(initial.get(place, 0)),
                "final": int(final.get(place, 0)),
            }
        )
    transitions = []
    for i, transition in enumerate(
        sorted(petri.transitions, key=lambda t: (t.label is None, str(t.label), str(t.name)))
    ):
        ids[id(transition)] = f"t{i}"
        transitions.append({"id": f"t{i}", "label": transition.label})
    arcs = sorted(
        ({"source": ids[id(arc.source)], "target": ids[id(arc.target)]} for arc in petri.arcs),
        key=lambda a: (a["source"], a["target"]),
    )
    return places, transitions, arcs


def soundness(net: Any, *, time_limit_s: float = 10.0) -> tuple[bool | None, str]:
    """Whether the net is a sound workflow net (pm4py's Woflan), if that is known in time."""
    from pm4py.algo.analysis.woflan import algorithm as woflan

    outcome: dict[str, Any] = {}

    def check() -> None:
        try:
            outcome["sound"] = bool(
                woflan.apply(
                    *net,
                    parameters={
                        "return_asap_when_not_sound": True,
                        "print_diagnostics": False,
                        "return_diagnostics": False,
                    },
                )
            )
        except Exception as exc:  # a failed check says nothing about the net
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    # Woflan cannot be interrupted; a daemon thread lets an answer come late without
    # holding up the result (its work is then discarded).
    worker = threading.Thread(target=check, name="c360-woflan", daemon=True)
    worker.start()
    worker.join(time_limit_s)
    if worker.is_alive():
        return None, f"not known: the soundness check did not finish in {time_limit_s:g} s"
    if "error" in outcome:
        return None, f"not known: the soundness check failed ({outcome['error'][:200]})"
    if outcome["sound"]:
        return True, "a sound workflow net"
    return False, "not a sound workflow net"


def _trace_log(sequences: list[tuple[str, ...]]) -> Any:
    from pm4py.objects.log.obj import Event, EventLog, Trace

    log = EventLog()
    for sequence in sequences:
        log.append(Trace([Event({"concept:name": name}) for name in sequence]))
    return log


def measure(log: ir.Table, net: Any, *, time_limit_s: float = 60.0) -> Quality:
    """Fitness and precision by token-based replay of the variants, weighted by their cases.

    Variants are replayed most frequent first, in chunks; when the time budget runs out the
    figures are those of the variants replayed so far (cut_short says so). With the whole log
    replayed the figures equal pm4py's fitness_token_based_replay and
    precision_token_based_replay on the full log.
    """
    began = time.monotonic()
    deadline = began + time_limit_s
    counts, total_variants = _variant_counts(log, QUALITY_MAX_VARIANTS)
    total_cases = sum(cases for _, cases in counts)
    if total_variants > len(counts):
        total_cases = int(queries.variants(log, limit=1).total_cases)
    fitness, fitting, replayed, cut = _fitness(counts, net, deadline)
    precision, precision_cut = _precision(counts[: replayed[0]], net, deadline)
    cut = cut or precision_cut or total_variants > len(counts)
    note = ""
    if cut:
        note = (
            f"cut short: replayed {replayed[0]:,} of {total_variants:,} variants "
            f"({replayed[1] / total_cases:.1%} of cases) within {time_limit_s:g} s"
            if total_cases
            else "cut short"
        )
    return Quality(
        fitness=fitness,
        precision=precision,
        fitting_cases=fitting,
        replayed_variants=replayed[0],
        total_variants=total_variants,
        replayed_cases=replayed[1],
        total_cases=total_cases,
        cut_short=cut,
        seconds=round(time.monotonic() - began, 3),
        note=note,
    )


def _fitness(
    counts: list[tuple[tuple[str, ...], int]], net: Any, deadline: float
) -> tuple[float | None, float | None, tuple[int, int], bool]:
    from pm4py.algo.conformance.tokenreplay.variants import token_replay

    parameters = {
        token_replay.Parameters.CONSIDER_REMAINING_IN_FITNESS: True,
        token_replay.Parameters.SHOW_PROGRESS_BAR: False,
    }
    missing = consumed = remaining = produced = 0
    fit_cases = cases = done = 0
    cut = False
    for start in range(0, len(counts), _REPLAY_CHUNK):
        if time.monotonic() > deadline:
            cut = True
            break
        chunk = counts[start : start + _REPLAY_CHUNK]
        results = token_replay.apply(
            _trace_log([sequence for sequence, _ in chunk]), *net, parameters=parameters
        )
        for (_, weight), result in zip(chunk, results, strict=True):
            missing += weight * result["missing_tokens"]
            consumed += weight * result["consumed_tokens"]
            remaining += weight * result["remaining_tokens"]
            produced += weight * result["produced_tokens"]
            fit_cases += weight if result["trace_is_fit"] else 0
            cases += weight
        done += len(chunk)
    if not cases or not consumed or not produced:
        return None, None, (done, cases), cut
    fitness = 0.5 * (1 - missing / consumed) + 0.5 * (1 - remaining / produced)
    return fitness, fit_cases / cases, (done, cases), cut


def _precision(
    counts: list[tuple[tuple[str, ...], int]], net: Any, deadline: float
) -> tuple[float | None, bool]:
    """ETConformance precision as pm4py computes it, with prefixes weighted by cases."""
    from pm4py.algo.conformance.tokenreplay.variants import token_replay
    from pm4py.objects.petri_net.utils.align_utils import (
        get_visible_transitions_eventually_enabled_by_marking,
    )

    petri, initial, final = net
    if not counts:
        return None, False
    followers: dict[tuple[str, ...], set[str]] = {}
    weight: dict[tuple[str, ...], int] = {}
    for sequence, cases in counts:
        for i in range(1, len(sequence)):
            prefix = sequence[:i]
            followers.setdefault(prefix, set()).add(sequence[i])
            weight[prefix] = weight.get(prefix, 0) + cases
    n_cases = sum(cases for _, cases in counts)
    starts = {sequence[0] for sequence, _ in counts if sequence}
    enabled_at_start = {
        t.label for t in get_visible_transitions_eventually_enabled_by_marking(petri, initial)
    }
    sum_at = n_cases * len(enabled_at_start)
    sum_ee = n_cases * len(enabled_at_start - starts)
    parameters = {
        token_replay.Parameters.SHOW_PROGRESS_BAR: False,
        token_replay.Parameters.CONSIDER_REMAINING_IN_FITNESS: False,
        token_replay.Parameters.TRY_TO_REACH_FINAL_MARKING_THROUGH_HIDDEN: False,
        token_replay.Parameters.STOP_IMMEDIATELY_UNFIT: True,
        token_replay.Parameters.WALK_THROUGH_HIDDEN_TRANS: True,
    }
    prefixes = list(followers)
    cut = False
    for start in range(0, len(prefixes), _REPLAY_CHUNK * 5):
        if time.monotonic() > deadline:
            cut = True
            break
        chunk = prefixes[start : start + _REPLAY_CHUNK * 5]
        results = token_replay.apply(_trace_log(chunk), petri, initial, final, parameters)
        for prefix, result in zip(chunk, results, strict=True):
            if not result["trace_is_fit"]:
                continue
            enabled = {
                t.label for t in result["enabled_transitions_in_marking"] if t.label is not None
            }
            sum_at += len(enabled) * weight[prefix]
            sum_ee += len(enabled - followers[prefix]) * weight[prefix]
    if sum_at == 0:
        return 1.0, cut
    return 1 - sum_ee / sum_at, cut
