"""Forms of the source pages: they validate input; sources.logic makes the change."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.models import User

from c360.sources.models import ColumnMapping, DataSource, ImportMode, SourceKind, Visibility

DELIMITER_CHOICES = [
    ("", "Detect from the file"),
    (",", "Comma ,"),
    (";", "Semicolon ;"),
    ("\t", "Tab"),
    ("|", "Pipe |"),
]


class SourceCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")
    kind = forms.ChoiceField(
        choices=SourceKind.choices,
        label="Kind",
        help_text="What one row of its files is: an event, a customer, an order, ...",
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        initial=Visibility.PRIVATE,
        widget=forms.RadioSelect,
        label="Visibility",
        help_text="Public sources are seen by all staff; private ones by their owner and "
        "the people granted rights on them.",
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description"
    )

    def __init__(self, *args: Any, may_publish: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_publish:
            # Staff sources are private: the choice is not offered, so it cannot be forged.
            del self.fields["visibility"]

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if DataSource.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(f"A data source called {name!r} exists already.")
        return name


class GrantForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.none(), label="Staff member", empty_label="Choose a staff member"
    )
    can_import = forms.BooleanField(required=False, label="Import")
    can_analyze = forms.BooleanField(required=False, label="Analyze")

    def __init__(self, *args: Any, source: DataSource, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Admins and the owner hold every right already; a grant would change nothing.
        user = cast(forms.ModelChoiceField, self.fields["user"])
        user.queryset = (
            User.objects.filter(is_active=True, is_superuser=False)
            .exclude(pk=source.owner_id)
            .order_by("username")
        )


class UploadForm(forms.Form):
    file = forms.FileField(label="File", allow_empty_file=False)
    mapping = forms.ModelChoiceField(
        queryset=ColumnMapping.objects.none(),
        required=False,
        empty_label="Suggest from the file's headers",
        label="Column mapping",
    )
    mode = forms.ChoiceField(
        choices=ImportMode.choices, initial=ImportMode.STRICT, label="When a row is bad"
    )
    delimiter = forms.ChoiceField(
        choices=DELIMITER_CHOICES, required=False, label="Delimiter (CSV)"
    )

    def __init__(self, *args: Any, source: DataSource, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source = source
        mapping = cast(forms.ModelChoiceField, self.fields["mapping"])
        mapping.queryset = ColumnMapping.objects.filter(kind=source.kind).order_by("name")
