from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "c360.journeys"
    label = "journeys"
    verbose_name = "Journey analytics"
