from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from integrations.models import SalesforceConnection
from integrations.salesforce import hosts

EDITIONS = [
    ("Enterprise Edition", "Enterprise"),
    ("Unlimited Edition", "Unlimited"),
    ("Performance Edition", "Performance"),
    ("Developer Edition", "Developer"),
    ("Professional Edition", "Professional (with API access)"),
]


class StartForm(forms.Form):
    """Wizard step 1: where and as whom the admin will sign in."""

    environment = forms.ChoiceField(
        choices=SalesforceConnection.Environment.choices,
        widget=forms.RadioSelect,
        initial=SalesforceConnection.Environment.PRODUCTION,
    )
    login_url = forms.URLField(
        label="My Domain or login URL",
        required=False,
        assume_scheme="https",
        help_text="Only for “My Domain or another login URL”, e.g. https://acme.my.salesforce.com (a sandbox: "
        "https://acme--uat.sandbox.my.salesforce.com).",
    )
    expected_edition = forms.ChoiceField(label="Your Salesforce edition", choices=EDITIONS)
    expected_username = forms.CharField(
        label="The Salesforce user you will sign in with",
        max_length=255,
        help_text="The integration user: Rox acts in Salesforce as this user.",
    )
    confirm_user = forms.BooleanField(
        label="This user has a Salesforce or Salesforce Integration licence and API access",
        required=True,
    )
    allow_org_change = forms.BooleanField(
        label="I am switching this organization to a different Salesforce org on purpose",
        required=False,
        help_text="Records already linked to the current org will not be written to the new one.",
    )
    allow_shared_org = forms.BooleanField(
        label="Another Rox organization may connect to the same Salesforce org",
        required=False,
        help_text="Only when the admins of both Rox organizations agree. They can overwrite each other's changes.",
    )

    def __init__(self, *args: Any, connection: SalesforceConnection | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not (connection and connection.sf_org_id):
            del self.fields["allow_org_change"]
        if settings.SALESFORCE_LOGIN_URL not in (
            "https://login.salesforce.com",
            "https://test.salesforce.com",
        ) and not (connection and connection.sf_org_id):
            # Development (sfsim) or a deployment pinned to one My Domain: pre-fill it.
            self.fields["environment"].initial = SalesforceConnection.Environment.CUSTOM
            self.fields["login_url"].initial = settings.SALESFORCE_LOGIN_URL

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("environment") == SalesforceConnection.Environment.CUSTOM:
            url = cleaned.get("login_url")
            if not url:
                self.add_error("login_url", "Give your My Domain or login URL.")
            elif not url.lower().startswith("https://"):
                self.add_error("login_url", "Salesforce is only reached over HTTPS.")
            else:
                # Judged without connecting to it: a refused host is never probed.
                try:
                    cleaned["login_url"] = hosts.login_origin(url)
                except hosts.HostNotAllowedError as exc:
                    self.add_error("login_url", exc.message)
                except ValueError as exc:
                    self.add_error("login_url", str(exc))
        return cleaned


class ApiShareForm(forms.ModelForm):
    class Meta:
        model = SalesforceConnection
        fields = ["api_share_percent"]
