"""Activities: the e-mails, calls, LinkedIn touches and meetings on a record's timeline."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from roxcrm.models import Account, Contact, CrmRecord, Lead, ObjectType, Opportunity


class Activity(CrmRecord):
    object_type = ObjectType.ACTIVITY

    class Type(models.TextChoices):
        EMAIL = "email", "E-mail"
        CALL = "call", "Phone call"
        LINKEDIN_MESSAGE = "linkedin_message", "LinkedIn message"
        LINKEDIN_CONNECTION = "linkedin_connection", "LinkedIn connection request"
        MEETING = "meeting", "Meeting"
        TASK = "task", "Other task"

    class Origin(models.TextChoices):
        ROX = "rox", "Logged in Rox"
        SALESFORCE = "salesforce", "Logged in Salesforce"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    type = models.CharField(max_length=30, choices=Type.choices)
    origin = models.CharField(
        max_length=12,
        choices=Origin.choices,
        default=Origin.ROX,
        editable=False,
        help_text="Activities logged in Salesforce are read-only in Rox.",
    )
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True, max_length=100_000)
    occurred_at = models.DateTimeField(default=timezone.now)
    duration_seconds = models.PositiveIntegerField(
        "duration (seconds)", null=True, blank=True, validators=[MinValueValidator(0)]
    )
    direction = models.CharField(max_length=10, choices=Direction.choices, blank=True)
    participant_emails = models.JSONField(
        "participant e-mail addresses", default=list, blank=True, help_text="Other people's addresses."
    )
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["organization", "-occurred_at"])]

    def __str__(self) -> str:
        return self.subject or self.get_type_display()

    def read_only_reason(self) -> str:
        if self.origin == self.Origin.SALESFORCE:
            return "This activity was logged in Salesforce; it is read-only in Rox."
        return ""

    def clean(self) -> None:
        emails = self.participant_emails
        if not isinstance(emails, list):
            raise ValidationError({"participant_emails": "Give a list of e-mail addresses."})
        cleaned: list[str] = []
        for address in emails:
            address = str(address).strip().lower()
            try:
                EmailValidator()(address)
            except ValidationError:
                raise ValidationError({"participant_emails": f"“{address}” is not a valid e-mail address."}) from None
            if address not in cleaned:
                cleaned.append(address)
        self.participant_emails = cleaned
        if self.type == self.Type.MEETING and self.duration_seconds is None:
            self.duration_seconds = 30 * 60
