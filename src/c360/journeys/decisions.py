"""Decision mining: at an activity where cases go different ways, what makes them choose?

Decision points come from the directly-follows graph: an activity followed by two or more
distinct activities. For one point, a decision tree (scikit-learn) learns the next activity
from the attributes of the event at the point (device, channel, country, traffic source,
store, ...); its accuracy on a seeded holdout and its feature importances say how much, and
which, attributes explain the choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir

Progress = Callable[[float, str], None]

# Event attributes tried when the parameters name none (those the log has).
DEFAULT_ATTRIBUTES = (
    "channel",
    "device_category",
    "device_os",
    "device_browser",
    "geo_country",
    "geo_city",
    "traffic_source",
    "store",
    "employee",
    "type",
    "item_type",
    "experience_score",
)
NONE = "(none)"
_LOG_KEYS = ("case_id", "activity", "timestamp", "ord", "event_id", "source_id", "next")


def _no_progress(fraction: float, stage: str) -> None:
    return None


@dataclass(frozen=True)
class DecisionParams:
    activity: str | None = None  # the decision point; None picks the busiest one
    attributes: tuple[str, ...] = ()  # empty: DEFAULT_ATTRIBUTES found in the log
    max_depth: int = 4
    min_samples_leaf: int = 5
    holdout: float = 0.3
    seed: int = 0
    max_samples: int = 50_000  # more decisions than this: a seeded sample trains the tree

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionParams:
        if not isinstance(data, dict):
            raise ValueError("params: expected a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"params: unknown {unknown}; expected some of {sorted(known)}")
        activity = data.get("activity") or None
        if activity is not None and not isinstance(activity, str):
            raise ValueError(f"params.activity: expected an activity name, got {activity!r}")
        attributes = data.get("attributes") or []
        if not isinstance(attributes, list | tuple) or not all(
            isinstance(a, str) and a and a not in _LOG_KEYS for a in attributes
        ):
            raise ValueError(
                f"params.attributes: expected a list of attribute columns, got {attributes!r}"
            )
        values: dict[str, Any] = {"activity": activity, "attributes": tuple(attributes)}
        limits: dict[str, tuple[type, float, float]] = {
            "max_depth": (int, 1, 20),
            "min_samples_leaf": (int, 1, 10_000),
            "holdout": (float, 0.05, 0.9),
            "seed": (int, 0, 2**31 - 1),
            "max_samples": (int, 100, 1_000_000),
        }
        for name, (kind, low, high) in limits.items():
            if name not in data:
                continue
            value = data[name]
            ok_type = isinstance(value, int | float) if kind is float else isinstance(value, int)
            if isinstance(value, bool) or not ok_type or not low <= value <= high:
                raise ValueError(f"params.{name}: expected {low:g}..{high:g}, got {value!r}")
            values[name] = kind(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["attributes"] = list(self.attributes)
        return out


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    return DecisionParams.from_dict(params).to_dict()


def _with_next(log: ir.Table) -> ir.Table:
    """Each event with the activity that directly follows it in its case (null at the end)."""
    import ibis

    window = ibis.window(group_by=log.case_id, order_by=[log.timestamp, log.ord])
    return log.mutate(next=log.activity.lead(1).over(window))


def decision_points(log: ir.Table) -> list[dict[str, Any]]:
    """Activities followed by two or more distinct activities, busiest first, with the
    share of each way out (the directly-follows counts, from the warehouse)."""
    followed = _with_next(log)
    followed = followed.filter(followed.next.notnull())
    edges = followed.group_by(["activity", "next"]).aggregate(count=followed.count())
    ways = edges.group_by("activity").aggregate(ways=edges.count())
    branching = edges.semi_join(ways.filter(ways.ways >= 2), "activity")
    points: dict[str, dict[str, Any]] = {}
    for row in branching.order_by(["activity", "next"]).to_pyarrow().to_pylist():
        point = points.setdefault(row["activity"], {"activity": row["activity"], "next": []})
        point["next"].append({"activity": row["next"], "count": int(row["count"])})
    out = []
    for point in points.values():
        total = sum(way["count"] for way in point["next"])
        point["next"].sort(key=lambda way: (-way["count"], way["activity"]))
        for way in point["next"]:
            way["share"] = round(way["count"] / total, 4)
        out.append({**point, "decisions": total})
    out.sort(key=lambda p: (-p["decisions"], p["activity"]))
    return out


def _tree_nodes(
    tree: Any, classes: list[str], features: list[str], columns: dict[str, tuple[str, str | None]]
) -> dict[str, Any]:
    """The fitted tree as nested nodes, for drawing: each with its split and class counts."""
    inner = tree.tree_

    def node(index: int) -> dict[str, Any]:
        samples = int(inner.n_node_samples[index])
        # tree_.value holds class fractions (scikit-learn >= 1.4); back to counts.
        fractions = inner.value[index][0]
        total = float(fractions.sum()) or 1.0
        counts = {
            cls: round(float(share) / total * samples)
            for cls, share in zip(classes, fractions, strict=True)
        }
        out: dict[str, Any] = {
            "id": index,
            "samples": samples,
            "counts": counts,
            "predicted": classes[int(fractions.argmax())],
            "impurity": round(float(inner.impurity[index]), 4),
        }
        left, right = int(inner.children_left[index]), int(inner.children_right[index])
        if left != -1:
            feature = features[int(inner.feature[index])]
            attribute, value = columns[feature]
            out.update(
                {
                    "feature": feature,
                    "attribute": attribute,
                    "value": value,  # one-hot: left is "not this value", right "this value"
                    "threshold": round(float(inner.threshold[index]), 4),
                    "left": node(left),
                    "right": node(right),
                }
            )
        return out

    return node(0)


def mine_decision(
    log: ir.Table, params: DecisionParams, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Train a decision tree for one decision point of `log` and describe it."""
    import pandas as pd
    from sklearn.metrics import accuracy_score  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
    from sklearn.tree import DecisionTreeClassifier, export_text  # type: ignore[import-untyped]

    progress(0.05, "finding decision points")
    points = decision_points(log)
    if not points:
        raise ValueError("the event log has no decision point: every activity has one successor")
    by_name = {p["activity"]: p for p in points}
    chosen = params.activity or points[0]["activity"]
    if chosen not in by_name:
        raise ValueError(
            f"params.activity: {chosen!r} is not a decision point of this log; decision points "
            f"are {', '.join(sorted(by_name)[:20])}"
        )
    if params.attributes:
        missing = [a for a in params.attributes if a not in log.columns]
        if missing:
            raise ValueError(
                f"params.attributes: the event log has no column {missing}; expected some of "
                f"{[c for c in log.columns if c not in _LOG_KEYS]}"
            )
        attributes = list(params.attributes)
    else:
        attributes = [a for a in DEFAULT_ATTRIBUTES if a in log.columns]

    progress(0.2, f"collecting the decisions at {chosen!r}")
    followed = _with_next(log)
    at_point = followed.filter((followed.activity == chosen) & followed.next.notnull())
    total = int(at_point.count().to_pyarrow().as_py())
    if total > params.max_samples:
        keyed = at_point.mutate(_key=(at_point.event_id.cast("string") + f"#{params.seed}").hash())
        at_point = keyed.order_by([keyed._key, keyed.event_id]).limit(params.max_samples)
    frame = at_point.select("next", *attributes).to_pandas()

    # Attributes never set at this point say nothing; text ones become one column per value.
    columns: dict[str, tuple[str, str | None]] = {}
    parts = []
    used = []
    for attribute in attributes:
        values = frame[attribute]
        if values.isna().all():
            continue
        used.append(attribute)
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            name = attribute
            columns[name] = (attribute, None)
            parts.append(values.astype("float64").rename(name))
            continue
        text = values.astype("object").where(values.notna(), NONE).astype(str)
        for value in sorted(text.unique()):
            name = f"{attribute} = {value}"
            columns[name] = (attribute, value)
            parts.append((text == value).astype("float64").rename(name))
    if not parts:
        raise ValueError(
            f"no attribute of {attributes} has a value at {chosen!r}; choose other attributes"
        )
    features = pd.concat(parts, axis=1)
    target = frame["next"].astype(str)
    classes_seen = target.value_counts()
    stratify = target if classes_seen.min() >= 2 else None
    progress(0.5, "training the decision tree")
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=params.holdout, random_state=params.seed, stratify=stratify
    )
    tree = DecisionTreeClassifier(
        max_depth=params.max_depth,
        min_samples_leaf=params.min_samples_leaf,
        random_state=params.seed,
    )
    tree.fit(x_train, y_train)
    accuracy = float(accuracy_score(y_test, tree.predict(x_test)))
    baseline = float((y_test == y_train.value_counts().idxmax()).mean())

    progress(0.85, "describing the tree")
    names = list(features.columns)
    importances = [
        {"feature": name, "importance": round(value, 4)}
        for name, value in sorted(
            ((n, float(v)) for n, v in zip(names, tree.feature_importances_, strict=True) if v > 0),
            key=lambda item: (-item[1], item[0]),
        )
    ]
    per_attribute: dict[str, float] = {}
    for name, value in zip(names, tree.feature_importances_, strict=True):
        attribute = columns[name][0]
        per_attribute[attribute] = per_attribute.get(attribute, 0.0) + float(value)
    ranked = sorted(per_attribute.items(), key=lambda item: (-item[1], item[0]))
    attribute_importances = [{"attribute": a, "importance": round(v, 4)} for a, v in ranked]
    classes = [str(c) for c in tree.classes_]
    balance = [
        {"activity": str(cls), "count": int(n), "share": round(int(n) / len(target), 4)}
        for cls, n in classes_seen.items()
    ]
    note = (
        f"{total:,} decisions at this point; a seeded sample of {len(frame):,} trained the tree."
        if len(frame) < total
        else ""
    )
    return {
        "activity": chosen,
        "decision_points": points,
        "attributes": used,
        "attributes_unused": [a for a in attributes if a not in used],
        "decisions": total,
        "samples": int(len(frame)),
        "sample_note": note,
        "train_samples": int(len(x_train)),
        "holdout_samples": int(len(x_test)),
        "accuracy": round(accuracy, 4),
        "baseline_accuracy": round(baseline, 4),
        "class_balance": balance,
        "feature_importances": importances,
        "attribute_importances": attribute_importances,
        "tree": _tree_nodes(tree, classes, names, columns),
        "tree_text": export_text(tree, feature_names=names, show_weights=True),
        "depth": int(tree.get_depth()),
        "leaves": int(tree.get_n_leaves()),
        "headline": {
            "decision point": chosen,
            "decisions": total,
            "holdout accuracy": round(accuracy, 4),
            "majority-class accuracy": round(baseline, 4),
            "top attribute": ranked[0][0] if ranked and ranked[0][1] > 0 else None,
        },
    }


def compute(spec: dict[str, Any], params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The 'decision' analysis run over the spec's event log."""
    from c360.journeys.eventlog import LogSpec, event_log
    from c360.warehouse import get_warehouse

    log = event_log(get_warehouse(), LogSpec.from_dict(spec))
    return mine_decision(log, DecisionParams.from_dict(params), progress)
