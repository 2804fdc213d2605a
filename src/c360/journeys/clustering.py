"""Trace clustering: group the cases of an event log by the paths they took.

The warehouse counts what each case did (activities, activity n-grams, or the activity at
each position); only those per-case counts come out, as a case x feature matrix, for
K-Means (scikit-learn) or K-Modes (kmodes). An elbow (inertia or cost) and silhouette series
over a range of k help choose k. Each cluster lists its cases, so it can filter the other
analyses (LogSpec.cases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import numpy as np

Progress = Callable[[float, str], None]

ALGORITHMS = ("kmeans", "kmodes")
ENCODINGS = ("bag", "ngram", "position")
START = "▶"  # stands before a case's first activity in its n-grams
EMPTY = "∅"  # a position past the end of a short case
ARROW = " → "
_SILHOUETTE_SAMPLE = 2000  # silhouette is quadratic in cases; a seeded sample estimates it


def _no_progress(fraction: float, stage: str) -> None:
    return None


@dataclass(frozen=True)
class ClusteringParams:
    algorithm: str = "kmeans"  # "kmeans" | "kmodes"
    encoding: str = "bag"  # "bag" (activity counts) | "ngram" | "position"
    k: int = 3
    k_min: int = 2  # the elbow and silhouette series span k_min..k_max
    k_max: int = 8
    ngram: int = 2  # n of the activity n-grams ("ngram" encoding)
    positions: int = 10  # first positions encoded ("position" encoding)
    max_cases: int = 5000  # more cases than this: a seeded sample is clustered
    seed: int = 0
    top_variants: int = 5

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusteringParams:
        """Validate parameters from a request; ValueError names the one that is wrong."""
        if not isinstance(data, dict):
            raise ValueError("params: expected a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"params: unknown {unknown}; expected some of {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in {"algorithm", "encoding"}:
                allowed = ALGORITHMS if name == "algorithm" else ENCODINGS
                if value not in allowed:
                    raise ValueError(
                        f"params.{name}: expected one of {list(allowed)}, got {value!r}"
                    )
                values[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"params.{name}: expected an integer, got {value!r}")
                values[name] = value
        params = cls(**values)
        limits = {
            "k": (2, 50),
            "k_min": (2, 50),
            "k_max": (2, 50),
            "ngram": (1, 4),
            "positions": (1, 100),
            "max_cases": (10, 200_000),
            "seed": (0, 2**31 - 1),
            "top_variants": (1, 50),
        }
        for name, (low, high) in limits.items():
            value = getattr(params, name)
            if not low <= value <= high:
                raise ValueError(f"params.{name}: expected {low}..{high}, got {value}")
        if params.k_min > params.k_max:
            raise ValueError(f"params.k_min: {params.k_min} is above k_max {params.k_max}")
        return params

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    return ClusteringParams.from_dict(params).to_dict()


# -- warehouse side -------------------------------------------------------------------------
def _ordered(log: ir.Table) -> ir.Table:
    """The log with each event's position in its case (0-based), ties broken by ord."""
    import ibis

    window = ibis.window(group_by=log.case_id, order_by=[log.timestamp, log.ord])
    return log.mutate(pos=ibis.row_number().over(window))


def case_table(log: ir.Table) -> ir.Table:
    """One row per case: its variant (activities joined by ' → '), events and duration."""
    from c360.journeys.eventlog import traces

    per_case = traces(log)
    return per_case.select(
        "case_id",
        variant=per_case.activities.join(ARROW),
        events=per_case.events,
        duration_s=per_case.duration_s,
    )


def _sampled_cases(log: ir.Table, *, max_cases: int, seed: int) -> tuple[ir.Table, int]:
    """The case ids to cluster (a seeded sample when there are more than max_cases)."""
    cases = log.select("case_id").distinct()
    total = int(cases.count().to_pyarrow().as_py())
    if total <= max_cases:
        return cases, total
    # A hash of the id and the seed orders cases the same way on every run and engine call.
    keyed = cases.mutate(_key=(cases.case_id + f"#{seed}").hash())
    return keyed.order_by([keyed._key, keyed.case_id]).limit(max_cases).select("case_id"), total


def _feature_counts(log: ir.Table, params: ClusteringParams) -> ir.Table:
    """(case_id, feature, n): how often each case shows each feature of the encoding."""
    if params.encoding == "bag":
        return log.group_by(["case_id", log.activity.name("feature")]).aggregate(n=log.count())
    import ibis

    ordered = _ordered(log)
    if params.encoding == "position":
        early = ordered.filter(ordered.pos < params.positions)
        return early.select(
            "case_id",
            feature=early.pos.cast("string") + ":" + early.activity,
            n=ibis.literal(1, type="int64"),
        )
    window = ibis.window(group_by=ordered.case_id, order_by=ordered.pos)
    parts = [
        ordered.activity.lag(back).over(window).fill_null(START)
        for back in range(params.ngram - 1, 0, -1)
    ] + [ordered.activity]
    gram = parts[0]
    for part in parts[1:]:
        gram = gram + ARROW + part
    grams = ordered.select("case_id", feature=gram)
    return grams.group_by(["case_id", "feature"]).aggregate(n=grams.count())


# -- Python side: the matrix and the models -----------------------------------------------
@dataclass
class _Encoded:
    matrix: np.ndarray  # cases x columns
    features: list[str]  # the column names
    categories: list[str]  # K-Modes on positions: the activity of each code (0 = none)


def _encode(counts: Any, case_ids: list[str], params: ClusteringParams) -> _Encoded:
    """Case x feature matrix from the counts table (a DataFrame); columns sorted by name.

    For K-Modes the matrix holds categories: presence (0/1) of a feature, or for the
    position encoding the code of the activity at each position (0 for none).
    """
    import numpy as np
    import pandas as pd

    rows = pd.Index(case_ids).get_indexer(counts["case_id"])
    if params.encoding == "position" and params.algorithm == "kmodes":
        split = counts["feature"].str.split(":", n=1, expand=True)
        position = split[0].astype(int).to_numpy()
        codes, names = pd.factorize(split[1], sort=True)
        matrix = np.zeros((len(case_ids), params.positions), dtype=np.int64)
        matrix[rows, position] = codes + 1
        return _Encoded(
            matrix=matrix,
            features=[f"position {p}" for p in range(params.positions)],
            categories=[EMPTY, *names.astype(str).tolist()],
        )
    codes, names = pd.factorize(counts["feature"], sort=True)
    matrix = np.zeros((len(case_ids), len(names)), dtype=np.float64)
    matrix[rows, codes] = counts["n"].to_numpy(dtype=np.float64)
    if params.algorithm == "kmodes":
        matrix = (matrix > 0).astype(np.int64)
    return _Encoded(matrix=matrix, features=names.astype(str).tolist(), categories=[])


def _fit(matrix: np.ndarray, k: int, params: ClusteringParams) -> tuple[np.ndarray, float, Any]:
    """Labels, inertia (K-Means) or cost (K-Modes), and the fitted model."""
    if params.algorithm == "kmeans":
        from sklearn.cluster import KMeans  # type: ignore[import-untyped]

        model = KMeans(n_clusters=k, n_init=4, random_state=params.seed)
        labels = model.fit_predict(matrix)
        return labels, float(model.inertia_), model
    from kmodes.kmodes import KModes  # type: ignore[import-untyped]

    model = KModes(n_clusters=k, init="Huang", n_init=3, random_state=params.seed, n_jobs=1)
    labels = model.fit_predict(matrix)
    return labels, float(model.cost_), model


def _silhouette(matrix: np.ndarray, labels: np.ndarray, params: ClusteringParams) -> float | None:
    import numpy as np
    from sklearn.metrics import silhouette_score  # type: ignore[import-untyped]

    found = len(np.unique(labels))
    if found < 2 or found >= len(labels):
        return None
    metric = "euclidean" if params.algorithm == "kmeans" else "hamming"
    sample = min(len(labels), _SILHOUETTE_SAMPLE)
    return round(
        float(
            silhouette_score(
                matrix, labels, metric=metric, sample_size=sample, random_state=params.seed
            )
        ),
        4,
    )


def _profile(
    model: Any, cluster: int, encoded: _Encoded, params: ClusteringParams
) -> list[dict[str, Any]]:
    """What sets a cluster apart: the features its centre holds most above the average."""
    import numpy as np

    if encoded.categories:
        mode = model.cluster_centroids_[cluster]
        return [
            {"feature": feature, "value": encoded.categories[int(code)]}
            for feature, code in zip(encoded.features, mode, strict=True)
        ]
    centre = (
        model.cluster_centers_[cluster]
        if params.algorithm == "kmeans"
        else model.cluster_centroids_[cluster].astype(np.float64)
    )
    overall = encoded.matrix.mean(axis=0)
    lift = centre - overall
    top = np.argsort(-lift, kind="stable")[:5]
    return [
        {
            "feature": encoded.features[i],
            "value": round(float(centre[i]), 3),
            "overall": round(float(overall[i]), 3),
        }
        for i in top
        if lift[i] > 0
    ]


def cluster_traces(
    log: ir.Table, params: ClusteringParams, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Cluster the cases of `log` (columns case_id, activity, timestamp, ord)."""
    import numpy as np

    progress(0.02, "counting cases")
    sampled, total = _sampled_cases(log, max_cases=params.max_cases, seed=params.seed)
    if total < 2:
        raise ValueError(f"clustering needs at least 2 cases; the event log has {total}")
    clustered_log = log.semi_join(sampled, "case_id")
    progress(0.08, "describing cases")
    cases = case_table(clustered_log).to_pandas().sort_values("case_id", ignore_index=True)
    case_ids = cases["case_id"].astype(str).tolist()
    progress(0.15, f"encoding cases ({params.encoding})")
    counts = _feature_counts(clustered_log, params).to_pandas()
    encoded = _encode(counts, case_ids, params)
    matrix = encoded.matrix
    distinct = len(np.unique(matrix, axis=0))
    if params.k > distinct:
        raise ValueError(
            f"params.k: the {len(case_ids)} cases have only {distinct} distinct "
            f"{params.encoding} vectors; choose k of at most {distinct}"
        )

    elbow: list[dict[str, Any]] = []
    fitted: dict[int, tuple[np.ndarray, float, Any]] = {}
    k_values = [k for k in range(params.k_min, params.k_max + 1) if k <= distinct]
    for step, k in enumerate(k_values):
        progress(0.2 + 0.65 * step / max(len(k_values), 1), f"trying k = {k}")
        labels, score, model = _fit(matrix, k, params)
        fitted[k] = (labels, score, model)
        elbow.append(
            {"k": k, "inertia": round(score, 4), "silhouette": _silhouette(matrix, labels, params)}
        )
    progress(0.88, f"clustering with k = {params.k}")
    labels, score, model = fitted.get(params.k) or _fit(matrix, params.k, params)
    silhouette = _silhouette(matrix, labels, params)

    progress(0.94, "describing clusters")
    cases["label"] = labels
    # Clusters are numbered by size, largest first, so the numbering reads the same each run.
    sizes = cases.groupby("label").size().sort_values(ascending=False, kind="stable")
    clusters = []
    for number, (label, size) in enumerate(sizes.items(), start=1):
        members = cases[cases["label"] == label]
        variants = (
            members.groupby("variant")
            .size()
            .reset_index(name="n")
            .sort_values(["n", "variant"], ascending=[False, True], kind="stable")
            .head(params.top_variants)
        )
        clusters.append(
            {
                "cluster": number,
                "size": int(size),
                "share": round(int(size) / len(cases), 4),
                "mean_duration_s": round(float(members["duration_s"].mean()), 3),
                "mean_events": round(float(members["events"].mean()), 3),
                "variants": int(members["variant"].nunique()),
                "top_variants": [
                    {"variant": str(v), "count": int(n), "share": round(int(n) / int(size), 4)}
                    for v, n in zip(variants["variant"], variants["n"], strict=True)
                ],
                "profile": _profile(model, int(label), encoded, params),
                "case_ids": sorted(members["case_id"].astype(str).tolist()),
            }
        )
    sampled_note = (
        f"The log has {total:,} cases; a seeded sample of {len(case_ids):,} "
        f"(seed {params.seed}) was clustered."
        if len(case_ids) < total
        else ""
    )
    measure = "inertia" if params.algorithm == "kmeans" else "cost"
    return {
        "algorithm": params.algorithm,
        "encoding": params.encoding,
        "k": params.k,
        "measure": measure,
        "cases_total": total,
        "cases_clustered": len(case_ids),
        "sampled": bool(sampled_note),
        "sample_note": sampled_note,
        "features": len(encoded.features),
        "distinct_vectors": distinct,
        "score": round(score, 4),
        "silhouette": silhouette,
        "elbow": elbow,
        "clusters": clusters,
        "headline": {
            "cases clustered": len(case_ids),
            "clusters": len(clusters),
            measure: round(score, 4),
            "silhouette": silhouette,
            "largest cluster share": clusters[0]["share"] if clusters else None,
        },
    }


def compute(spec: dict[str, Any], params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The 'clustering' analysis run: the spec's event log, clustered per the params."""
    from c360.journeys.eventlog import LogSpec, event_log
    from c360.warehouse import get_warehouse

    log = event_log(get_warehouse(), LogSpec.from_dict(spec))
    return cluster_traces(log, ClusteringParams.from_dict(params), progress)
