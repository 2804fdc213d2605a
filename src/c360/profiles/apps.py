from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "c360.profiles"
    label = "profiles"
    verbose_name = "Customer profiles"
