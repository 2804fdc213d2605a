from django.apps import AppConfig


class SourcesConfig(AppConfig):
    name = "c360.sources"
    label = "sources"
