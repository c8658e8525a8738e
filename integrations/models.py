"""A Salesforce connection per organization, and the runs of work done against it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from integrations.crypto import EncryptedTextField
from roxcrm.models import Organization


class SalesforceConnection(models.Model):
    """The organization's link to one Salesforce org. Tokens are encrypted at rest; the connection (not the admin
    who clicked Connect) owns them, so it keeps working when that person leaves."""

    class Status(models.TextChoices):
        SETUP = "setup", "Set-up in progress"
        CONNECTED = "connected", "Connected"
        ACTION_REQUIRED = "action_required", "Action Required"
        DISCONNECTED = "disconnected", "Disconnected"

    class Environment(models.TextChoices):
        PRODUCTION = "production", "Production (login.salesforce.com)"
        SANDBOX = "sandbox", "Sandbox (test.salesforce.com)"
        CUSTOM = "custom", "My Domain or another login URL"

    class Grant(models.TextChoices):
        WEB_SERVER = "web_server", "Signed in by an admin (OAuth web-server flow)"
        CLIENT_CREDENTIALS = "client_credentials", "Server to server (OAuth client credentials)"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="salesforce")

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SETUP)
    auth_refused = models.BooleanField(
        default=False, help_text="Salesforce refused Rox's refresh token: the admin must sign in again."
    )
    action_reason = models.TextField(blank=True, help_text="Why the connection needs attention, in the admin's words.")

    # Step 1: what the admin told us before signing in.
    environment = models.CharField(max_length=20, choices=Environment.choices, default=Environment.PRODUCTION)
    login_url = models.URLField(max_length=255)
    expected_edition = models.CharField(max_length=40, blank=True)
    expected_username = models.CharField(max_length=255, blank=True)
    allow_org_change = models.BooleanField(
        default=False, help_text="The admin confirmed that the next sign-in may be to a different Salesforce org."
    )
    allow_shared_org = models.BooleanField(
        default=False,
        help_text="This organization's admin agrees to share its Salesforce org with other Rox organizations.",
    )

    # What Salesforce told us at sign-in.
    grant = models.CharField(max_length=20, choices=Grant.choices, default=Grant.WEB_SERVER)
    client_id = models.CharField(max_length=255, blank=True)
    client_secret = EncryptedTextField(blank=True, help_text="Only for the client-credentials grant.")
    instance_url = models.URLField(max_length=255, blank=True)
    sf_org_id = models.CharField("Salesforce org id", max_length=18, blank=True, db_index=True)
    sf_org_name = models.CharField(max_length=255, blank=True)
    sf_edition = models.CharField(max_length=80, blank=True)
    is_sandbox = models.BooleanField(default=False)
    sf_user_id = models.CharField("integration user id", max_length=18, blank=True)
    sf_username = models.CharField("integration user", max_length=255, blank=True)
    sf_user_email = models.EmailField(blank=True)
    scopes = models.CharField(max_length=255, blank=True)
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    # The login URL that issued the tokens: refresh and revoke go there and nowhere else, whatever step 1 says now
    # (changing the login URL discards the tokens, so the two only differ on a connection that is not signed in).
    token_login_url = models.URLField(max_length=255, blank=True)
    token_issued_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every refresh: a caller that saw generation N and got INVALID_SESSION_ID refreshes only if the
    # connection is still at N, so many workers hitting an expired token at once refresh it once.
    token_generation = models.PositiveIntegerField(default=0)

    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    first_sync_started_at = models.DateTimeField(null=True, blank=True)
    mappings_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the admin confirmed the basic field mappings in the wizard."
    )
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="When the set-up wizard was submitted.")
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)

    # The org's API usage, from the Sforce-Limit-Info header of the latest response.
    api_used = models.PositiveIntegerField(null=True, blank=True)
    api_max = models.PositiveIntegerField(null=True, blank=True)
    api_usage_at = models.DateTimeField(null=True, blank=True)
    api_share_percent = models.PositiveSmallIntegerField(
        "Rox's share of the daily API limit (%)",
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )

    class Meta:
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"Salesforce for {self.organization}"

    def latest_preflight(self) -> SyncRun | None:
        """The latest finished run of the prerequisite checks."""
        return self.runs.filter(kind=SyncRun.Kind.PREFLIGHT, finished_at__isnull=False).first()

    @property
    def is_signed_in(self) -> bool:
        return bool(self.access_token) and self.status != self.Status.DISCONNECTED

    @property
    def api_budget(self) -> int | None:
        """How many API calls Rox may use in 24 hours: its share of the org's daily limit."""
        if not self.api_max:
            return None
        return self.api_max * self.api_share_percent // 100


class DescribeCache(models.Model):
    """The org's describe of one object, as last fetched: what the CRM Mappings pages and validation read, so that
    viewing a page never calls Salesforce. Refreshed by the prerequisite checks and the Refresh button."""

    connection = models.ForeignKey(SalesforceConnection, on_delete=models.CASCADE, related_name="describes")
    sobject = models.CharField(max_length=80)
    data = models.JSONField()
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "sobject"], name="describecache_unique")]

    def __str__(self) -> str:
        return f"{self.sobject} of {self.connection}"


class SyncRun(models.Model):
    """One run of work against Salesforce (preflight checks now; sync, writeback and formula refresh later):
    when, what it found, how many API calls it used, and how it ended."""

    class Kind(models.TextChoices):
        PREFLIGHT = "preflight", "Prerequisite checks"
        INBOUND = "inbound", "Sync from Salesforce"
        DRY_RUN = "dry_run", "Test of the mapping"
        FORMULA = "formula", "Formula refresh"
        WRITEBACK = "writeback", "Writeback to Salesforce"
        RECONCILE = "reconcile", "Reconciliation of Ids"
        SETUP = "setup", "Salesforce set-up"

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        WARNINGS = "warnings", "Succeeded with warnings"
        PAUSED = "paused", "Paused (API budget)"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(SalesforceConnection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    sobject = models.CharField(max_length=80, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    api_calls = models.PositiveIntegerField(default=0)
    # fetched, created, updated, unchanged, deleted, failed (inbound); total and rate while running
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["connection", "kind", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SalesforceLink(models.Model):
    """The ID mapping: one Rox record is one Salesforce record. Holds the shadow (the last values of the mapped
    fields both sides agreed on), the last SystemModstamp seen, and whether Salesforce deleted or merged it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    sobject = models.CharField(max_length=80)
    sf_id = models.CharField("Salesforce Id", max_length=18)
    rox_object = models.CharField(max_length=50)
    record_id = models.BigIntegerField()
    modstamp = models.DateTimeField(null=True, blank=True)
    shadow = models.JSONField(default=dict, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="When Salesforce deleted the record.")
    merged_into = models.CharField(max_length=18, blank=True, help_text="The surviving record of a merge.")
    synced_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "sobject", "sf_id"], name="link_sf_unique"),
            models.UniqueConstraint(
                fields=["organization", "rox_object", "record_id", "sobject"], name="link_rox_unique"
            ),
        ]
        indexes = [models.Index(fields=["rox_object", "record_id"])]

    def __str__(self) -> str:
        return f"{self.sobject} {self.sf_id} ↔ {self.rox_object} #{self.record_id}"


class PendingReference(models.Model):
    """A child that arrived before its parent: once a record with ``parent_sf_id`` is linked, the child's
    ``rox_field`` is pointed at it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    child = models.ForeignKey(SalesforceLink, on_delete=models.CASCADE, related_name="pending_references")
    rox_field = models.CharField(max_length=60)
    parent_sf_id = models.CharField(max_length=18, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["child", "rox_field"], name="pendingref_unique")]

    def __str__(self) -> str:
        return f"{self.child} .{self.rox_field} waits for {self.parent_sf_id}"


class SyncCursor(models.Model):
    """Per connection and object: how far the inbound sync has fully read, and who is running it now.

    ``running_since`` is the database lock that makes one run per connection and object at a time across workers
    and machines: it is taken with a conditional UPDATE and released at the end; a run stuck past the timeout is
    taken over."""

    connection = models.ForeignKey(SalesforceConnection, on_delete=models.CASCADE, related_name="cursors")
    sobject = models.CharField(max_length=80)
    cursor = models.DateTimeField(
        null=True, blank=True, help_text="Every record with an earlier SystemModstamp is read."
    )
    backfilled_at = models.DateTimeField(null=True, blank=True, help_text="When the first full read finished.")
    backfill_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Salesforce fields mapped since the first read, waiting to be filled on the records read before.",
    )
    formula_refreshed_at = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    running_since = models.DateTimeField(null=True, blank=True)
    running_token = models.CharField(max_length=40, blank=True)
    writeback_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="A writeback task is queued for this object (cleared when it starts)."
    )
    last_run = models.ForeignKey("SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "sobject"], name="cursor_unique")]

    def __str__(self) -> str:
        return f"{self.sobject} of {self.connection} at {self.cursor}"


class SyncError(models.Model):
    """A record that could not be synced, with Salesforce's code and message (or Rox's validation message)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="errors")
    direction = models.CharField(max_length=10, default="inbound")
    sobject = models.CharField(max_length=80)
    sf_id = models.CharField(max_length=18, blank=True)
    rox_object = models.CharField(max_length=50, blank=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    code = models.CharField(max_length=80)
    message = models.TextField()
    fields = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "resolved_at", "code"])]

    def __str__(self) -> str:
        return f"{self.code} on {self.sobject} {self.sf_id}"


class Conflict(models.Model):
    """A field both sides changed since they last agreed; the more recent change won, in both systems."""

    class Winner(models.TextChoices):
        SALESFORCE = "salesforce", "Salesforce"
        ROX = "rox", "Rox"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    sobject = models.CharField(max_length=80)
    sf_id = models.CharField(max_length=18)
    rox_object = models.CharField(max_length=50)
    record_id = models.BigIntegerField()
    sf_field = models.CharField(max_length=120)
    rox_field = models.CharField(max_length=120)
    sf_value = models.JSONField(null=True, blank=True)
    rox_value = models.JSONField(null=True, blank=True)
    sf_changed_at = models.DateTimeField()
    rox_changed_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=12, choices=Winner.choices)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.sobject}.{self.sf_field} on {self.sf_id}: {self.get_winner_display()} won"


class OutboxEntry(models.Model):
    """A Rox change waiting to be written to Salesforce: one open row per record and operation, written in the same
    transaction as the change; later edits coalesce into it. Claimed by a conditional UPDATE; rows stuck in flight
    are released by a periodic sweep."""

    class Operation(models.TextChoices):
        UPDATE = "update", "Update"
        CREATE = "create", "Create"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Written"
        FAILED = "failed", "Failed"
        REVIEW = "review", "Needs review"
        DISCARDED = "discarded", "Discarded"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    sobject = models.CharField(max_length=80)
    rox_object = models.CharField(max_length=50)
    record_id = models.BigIntegerField()
    operation = models.CharField(max_length=10, choices=Operation.choices, default=Operation.UPDATE)
    # Rox field key -> ISO time of its latest change (the values themselves are read from the record when sent)
    fields = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    in_flight_since = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=80, blank=True)
    error_message = models.TextField(blank=True)
    error_fields = models.JSONField(default=list, blank=True)
    candidates = models.JSONField(default=list, blank=True, help_text="Salesforce records that matched a new record.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)
    batch = models.ForeignKey(
        "WritebackBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sobject", "record_id", "operation"],
                condition=models.Q(state="pending"),
                name="outbox_one_pending",
            )
        ]
        indexes = [models.Index(fields=["organization", "sobject", "state", "not_before"])]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} {self.sobject} for {self.rox_object} #{self.record_id}: {self.state}"


class WritebackBatch(models.Model):
    """One send to Salesforce: what each record's fields held before and what Rox wrote, so it can be undone."""

    connection = models.ForeignKey(SalesforceConnection, on_delete=models.CASCADE, related_name="batches")
    sobject = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)
    # [{"sf_id", "rox_object", "record_id", "created": bool, "before": {sf_field: value}, "after": {...}}]
    records = models.JSONField(default=list)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{len(self.records)} {self.sobject} record(s) written at {self.created_at:%Y-%m-%d %H:%M}"
