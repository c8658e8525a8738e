from __future__ import annotations

from django import forms

from activities.models import Activity
from roxcrm.forms import RecordForm


class ParticipantsField(forms.CharField):
    """E-mail addresses, one per line or separated by commas; each is checked by the model."""

    widget = forms.Textarea(attrs={"rows": 2})

    def prepare_value(self, value: object) -> object:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: object) -> list[str]:
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


class ActivityForm(RecordForm):
    participant_emails = ParticipantsField(
        label="Participant e-mail addresses", required=False, help_text="One per line."
    )

    class Meta:
        model = Activity
        fields = [
            "type",
            "subject",
            "occurred_at",
            "direction",
            "duration_seconds",
            "participant_emails",
            "account",
            "opportunity",
            "contact",
            "lead",
            "owner",
            "body",
        ]
        widgets = {"occurred_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")}
