"""Forms only validate; the views hand the cleaned values to ``api.services``."""

from django import forms

from api.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “Calendar sync” or “Enrichment agent”.")
    kind = forms.ChoiceField(
        choices=ApiToken.Kind.choices,
        initial=ApiToken.Kind.USER,
        help_text="Its changes are recorded as made by a person's tool or by an agent.",
    )
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
