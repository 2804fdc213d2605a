from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "c360.accounts"
    label = "accounts"
