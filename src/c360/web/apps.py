from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "c360.web"
    label = "web"
