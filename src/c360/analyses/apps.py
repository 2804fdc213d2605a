from django.apps import AppConfig


class AnalysesConfig(AppConfig):
    name = "c360.analyses"
    label = "analyses"
    verbose_name = "Analysis runs"

    def ready(self) -> None:
        # The journey analyses of this app's kinds; their modules import scikit-learn and
        # kmodes only when a run computes, so registering them costs nothing at start-up.
        from c360.analyses.kinds import register_kinds

        register_kinds()
