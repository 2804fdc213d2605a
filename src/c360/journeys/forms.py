"""Forms of the journey pages: the event log to analyse, and each analysis' parameters.

The forms only parse what the browser sends; LogSpec.from_dict and each kind's check_params
validate, and their ValueErrors ("case: ...", "params.k: ...") are put on the field they
name (see place_error).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, cast

from django import forms

from c360.journeys.eventlog import TEXT_COLUMNS

CASE_CHOICES = [
    ("person", "Person (through the identity map)"),
    ("session", "Session"),
    ("column", "An event column"),
    ("property", "A property of the event"),
]

KINDS = {
    "process_map": "Process map",
    "variants": "Variants",
    "models": "Models side by side",
    "clustering": "Trace clustering",
    "decision": "Decision mining",
    "funnel": "Funnel",
}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _commas(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class LogSpecForm(forms.Form):
    name = forms.CharField(
        required=False, max_length=200, help_text="Optional; a name is made up when empty."
    )
    sources = forms.MultipleChoiceField(
        label="Event sources",
        widget=forms.CheckboxSelectMultiple,
        help_text="The event sources you may analyse.",
    )
    case = forms.ChoiceField(label="A case is", choices=CASE_CHOICES, initial="person")
    case_field = forms.CharField(
        label="Case column or property",
        required=False,
        help_text="For a column or property case: e.g. customer_id, or the key quote_id.",
    )
    activity = forms.CharField(
        label="Activity",
        initial="event",
        help_text="Event columns, comma-separated, joined into one activity "
        "(e.g. “event, channel”); property:<key> works too. Columns: " + ", ".join(TEXT_COLUMNS),
    )
    start = forms.DateTimeField(
        label="From (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label="Until (UTC, not included)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    channels = forms.CharField(
        required=False, help_text="Comma-separated, e.g. web, app; empty keeps every channel."
    )
    activities = forms.CharField(
        label="Only these activities",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line; the others are left out of the cases.",
    )
    attributes = forms.CharField(
        label="Attribute filters",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line: column = allowed, values (e.g. geo_country = NL, BE).",
    )
    containing = forms.CharField(
        label="Cases containing",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One activity per line; a case must contain each.",
    )
    not_containing = forms.CharField(
        label="Cases not containing",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One activity per line; a case containing any is left out.",
    )
    cluster = forms.ChoiceField(
        label="Only the cases of a cluster",
        required=False,
        help_text="A cluster of a finished trace-clustering run.",
    )

    def __init__(
        self,
        *args: Any,
        sources: list[tuple[str, str]],
        clusters: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        source_field = cast(forms.ChoiceField, self.fields["sources"])
        cluster_field = cast(forms.ChoiceField, self.fields["cluster"])
        source_field.choices = sources
        cluster_field.choices = [("", "— every case —"), *clusters]

    def spec_dict(self, cluster_cases: list[str] | None) -> dict[str, Any]:
        """The log spec, as LogSpec.from_dict reads it (validated there)."""
        data = self.cleaned_data
        case = data["case"]
        if case in ("column", "property"):
            field = (data.get("case_field") or "").strip()
            if not field:
                raise ValueError(f"case_field: name the {case} a case is identified by")
            case = f"{case}:{field}"
        attributes: dict[str, list[str]] = {}
        for i, line in enumerate(_lines(data.get("attributes", ""))):
            column, sep, values = line.partition("=")
            if not sep or not column.strip() or not _commas(values):
                raise ValueError(
                    f"attributes: line {i + 1} ({line!r}) is not “column = value, value”"
                )
            attributes.setdefault(column.strip(), []).extend(_commas(values))
        spec: dict[str, Any] = {
            "source_ids": [int(s) for s in data["sources"]],
            "case": case,
            "activity": _commas(data["activity"]),
            "start": data["start"].replace(tzinfo=UTC).isoformat() if data.get("start") else None,
            "end": data["end"].replace(tzinfo=UTC).isoformat() if data.get("end") else None,
            "channels": _commas(data.get("channels", "")),
            "activities": _lines(data.get("activities", "")),
            "attributes": attributes,
            "containing": _lines(data.get("containing", "")),
            "not_containing": _lines(data.get("not_containing", "")),
        }
        if cluster_cases is not None:
            spec["cases"] = cluster_cases
        return spec


class ProcessMapParamsForm(forms.Form):
    bins = forms.IntegerField(
        label="Duration histogram bins", initial=20, min_value=1, max_value=200
    )

    def params(self) -> dict[str, Any]:
        return {"bins": self.cleaned_data["bins"]}


class VariantsParamsForm(forms.Form):
    limit = forms.IntegerField(label="Variants kept", initial=100, min_value=1, max_value=10_000)

    def params(self) -> dict[str, Any]:
        return {"limit": self.cleaned_data["limit"]}


class ModelsParamsForm(forms.Form):
    dependency_threshold = forms.FloatField(
        label="Heuristic miner: dependency threshold", initial=0.5, min_value=-1, max_value=1
    )
    and_threshold = forms.FloatField(
        label="Heuristic miner: and threshold", initial=0.65, min_value=-1, max_value=1
    )
    min_edge_frequency = forms.IntegerField(
        label="Heuristic miner: minimum edge frequency", initial=1, min_value=1
    )
    inductive_variant = forms.ChoiceField(
        label="Inductive miner",
        choices=[
            ("auto", "Automatic"),
            ("IMd", "IMd (on the directly-follows graph)"),
            ("IMf", "IMf (on the variants)"),
        ],
        initial="auto",
    )
    noise_threshold = forms.FloatField(
        label="Inductive miner: noise threshold", initial=0.0, min_value=0, max_value=0.99
    )
    time_limit_s = forms.FloatField(
        label="Time for fitness and precision (s)", initial=60, min_value=1, max_value=3600
    )

    def params(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class ClusteringParamsForm(forms.Form):
    algorithm = forms.ChoiceField(
        choices=[("kmeans", "K-Means"), ("kmodes", "K-Modes")], initial="kmeans"
    )
    encoding = forms.ChoiceField(
        choices=[
            ("bag", "Bag of activities"),
            ("ngram", "Activity n-grams"),
            ("position", "Activity per position"),
        ],
        initial="bag",
    )
    k = forms.IntegerField(label="Clusters (k)", initial=3, min_value=2, max_value=50)
    k_min = forms.IntegerField(label="Elbow chart from k", initial=2, min_value=2, max_value=50)
    k_max = forms.IntegerField(label="Elbow chart to k", initial=8, min_value=2, max_value=50)
    ngram = forms.IntegerField(label="n of the n-grams", initial=2, min_value=1, max_value=4)

    def params(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class DecisionParamsForm(forms.Form):
    activity = forms.CharField(
        label="Decision point (activity)",
        required=False,
        help_text="The activity after which customers choose; empty picks the busiest one.",
    )
    attributes = forms.CharField(
        required=False,
        help_text="Comma-separated attribute columns (e.g. device_category, channel); "
        "empty uses every journey attribute in the log.",
    )
    max_depth = forms.IntegerField(label="Tree depth", initial=4, min_value=1, max_value=20)
    min_samples_leaf = forms.IntegerField(
        label="Cases per leaf (at least)", initial=5, min_value=1, max_value=10_000
    )
    holdout = forms.FloatField(label="Holdout share", initial=0.3, min_value=0.05, max_value=0.9)

    def params(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["activity"] = (data.get("activity") or "").strip() or None
        data["attributes"] = _commas(data.get("attributes") or "")
        return data


class FunnelParamsForm(forms.Form):
    steps = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One activity per line, in order (2 to 20 steps).",
    )
    breakdown = forms.CharField(
        required=False, help_text="An attribute column to break down by, e.g. channel."
    )

    def params(self) -> dict[str, Any]:
        return {
            "steps": _lines(self.cleaned_data["steps"]),
            "breakdown": (self.cleaned_data.get("breakdown") or "").strip() or None,
        }


PARAM_FORMS: dict[str, type[forms.Form]] = {
    "process_map": ProcessMapParamsForm,
    "variants": VariantsParamsForm,
    "models": ModelsParamsForm,
    "clustering": ClusteringParamsForm,
    "decision": DecisionParamsForm,
    "funnel": FunnelParamsForm,
}

# The spec field a validation message names, for the form field that shows it.
_SPEC_FIELDS = {
    "source_ids": "sources",
    "case": "case",
    "case_field": "case_field",
    "activity": "activity",
    "start": "start",
    "end": "end",
    "channels": "channels",
    "activities": "activities",
    "attributes": "attributes",
    "containing": "containing",
    "not_containing": "not_containing",
    "cases": "cluster",
    "cluster": "cluster",
    "name": "name",
}


def place_error(message: str, spec_form: forms.Form, params_form: forms.Form) -> None:
    """Show a ValueError on the field it names ("activity[1]: ...", "params.k: ..."),
    or above the form when it names none."""
    head = message.split(":", 1)[0].strip()
    for prefix in ("spec.", "params.", "log spec"):
        head = head.removeprefix(prefix)
    key = head.split("[", 1)[0].split(".", 1)[0]
    if key in params_form.fields:
        params_form.add_error(key, message)
    elif key in _SPEC_FIELDS:
        spec_form.add_error(_SPEC_FIELDS[key], message)
    else:
        spec_form.add_error(None, message)
