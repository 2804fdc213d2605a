"""The analyses this app runs itself: trace clustering, decision mining and funnels."""

from __future__ import annotations

from c360.analyses.logic import register


def register_kinds() -> None:
    # The modules import scikit-learn and kmodes inside their functions, so this is cheap.
    from c360.journeys import clustering, decisions, funnels

    register(
        "clustering",
        clustering.compute,
        label="Trace clustering",
        check_params=clustering.check_params,
    )
    register(
        "decision", decisions.compute, label="Decision mining", check_params=decisions.check_params
    )
    register("funnel", funnels.compute, label="Funnel", check_params=funnels.check_params)
