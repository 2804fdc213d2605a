from django.apps import AppConfig, apps


class JourneysConfig(AppConfig):
    name = "c360.journeys"
    label = "journeys"
    verbose_name = "Journey analytics"

    def ready(self) -> None:
        # The analyses app keeps runs and their history; without it the API still answers.
        if apps.is_installed("c360.analyses"):
            from c360.journeys.logic import register_kinds

            register_kinds()
