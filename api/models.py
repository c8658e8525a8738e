"""API tokens (per organization, hashed, rate-limited) and the client-supplied ids that make activity posting
idempotent. Changes go through ``api.services``."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from activities.models import Activity
from roxcrm.models import FieldChange, Membership, Organization


class ApiToken(models.Model):
    """A secret that lets a tool or an agent use the API for one organization.

    Only a SHA-256 of the whole secret is kept; ``prefix`` (part of the secret, shown on the page) finds the row.
    A slow password hash would add nothing: the secret is 256 random bits, not something a person chose.
    """

    class Kind(models.TextChoices):
        # The values are the edit path's actor kinds, so the history says whether a person's tool or an agent wrote.
        USER = FieldChange.ActorKind.USER.value, "User (a person's tool)"
        AGENT = FieldChange.ActorKind.AGENT.value, "Agent"

    class Scope(models.TextChoices):
        READ = "read", "Read"
        READ_WRITE = "read_write", "Read and write"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.USER)
    scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Fixed-window rate limit kept in the database, so every web process counts the same requests.
    rate_window_start = models.DateTimeField(null=True, blank=True, editable=False)
    rate_window_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization})"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.READ_WRITE

    @property
    def display_prefix(self) -> str:
        return f"rox_{self.prefix}_…"

    @property
    def stopped_reason(self) -> str:
        """Why this token, though not revoked, no longer works ("" while it works).

        A token acts for the person who created it (its writes carry their name, its private fields are theirs), so
        it dies with their membership or their account; ``api.services.token_authenticate`` refuses it by the same
        rules. Uses the ``creator_is_member`` annotation of ``api.services.tokens_of`` when present.
        """
        if self.revoked_at is not None:
            return ""
        creator = self.created_by
        if creator is None:
            return "its creator's account was deleted"
        if not creator.is_active:
            return f"{creator} was deactivated"
        is_member = getattr(self, "creator_is_member", None)
        if is_member is None:
            is_member = Membership.objects.filter(organization_id=self.organization_id, user_id=creator.pk).exists()
        if not is_member:
            return f"{creator} left the organization"
        return ""


class ActivityExternalId(models.Model):
    """A client's own id for an activity it posted; posting the same id again returns this activity."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255)
    activity = models.OneToOneField(Activity, on_delete=models.CASCADE, related_name="api_external_id")
    # SHA-256 of the request that created the activity: a repeat with other content is a client bug (409), not a
    # retry.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], name="activity_external_id_unique")
        ]

    def __str__(self) -> str:
        return self.external_id
