"""Forms of the account pages: they validate input; accounts.logic makes the change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password

from c360.accounts.models import PERMISSIONS
from c360.sources.models import DataSource

ROLE_CHOICES = [
    ("staff", "Staff: sees public sources, its own, and those granted to it"),
    ("admin", "Admin: everything, including users, API tokens and the Django admin"),
]
_PERMISSION_LABELS = {
    "import": "Import: load files into the source, roll its imports back",
    "analyze": "Analyze: read the source's data",
}
PERMISSION_CHOICES = [(name, _PERMISSION_LABELS.get(name, name)) for name in PERMISSIONS]


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150, label="User name")
    email = forms.EmailField(required=False, label="E-mail (optional)")
    password = forms.CharField(widget=forms.PasswordInput, label="Password")
    password_again = forms.CharField(widget=forms.PasswordInput, label="Password, again")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="staff", widget=forms.RadioSelect)

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(f"The user name {username!r} is taken.")
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password, again = cleaned.get("password"), cleaned.get("password_again")
        if password and again and password != again:
            self.add_error("password_again", "The two passwords differ.")
        elif password:
            try:
                validate_password(password, User(username=cleaned.get("username", "")))
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Name",
        help_text="Say which system uses it, e.g. “nightly CRM export”.",
    )
    sources = forms.ModelMultipleChoiceField(
        queryset=DataSource.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        label="Data sources",
        error_messages={"required": "Pick at least one data source."},
    )
    permissions = forms.MultipleChoiceField(
        choices=PERMISSION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        label="Permissions",
        error_messages={"required": "Pick at least one permission."},
    )
