"""Tenancy (users, organizations, memberships, invitations) and the CRM records every organization keeps.

Models only hold data and its validation; every change to a record goes through ``roxcrm.services``.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from roxcrm.domains import normalize_domain

# ---------------------------------------------------------------------------------------------------------------
# Users and tenancy


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an e-mail address and a password."""

    email = models.EmailField("e-mail address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()


# Never an organization's address, ignoring case: words that read as the site's own pages (its top-level paths
# today, and likely ones), so that /o/<slug>/ can never pass for one of them. ``reserved_slugs`` adds every top-level
# prefix of the URLconf, so a new one is reserved without anyone remembering to list it here.
RESERVED_SLUGS = frozenset(
    {"admin", "api", "static", "media", "accounts", "account", "settings", "auth", "login", "logout", "signup", "o"}
)


def reserved_slugs() -> frozenset[str]:
    """``RESERVED_SLUGS`` and the first segment of every top-level URL pattern (``admin``, ``auth``, ``o`` ...)."""
    from django.urls import get_resolver  # here, not at import: the URLconf imports the models

    prefixes = {str(pattern.pattern).split("/", 1)[0].lower() for pattern in get_resolver().url_patterns}
    return RESERVED_SLUGS | {prefix for prefix in prefixes if prefix}


class Organization(models.Model):
    """A company using Rox: the unit of tenancy. Every record belongs to exactly one."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True, help_text="Used in this organization's URLs.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Acme and acme would be two organizations whose addresses people cannot tell apart.
            models.UniqueConstraint(
                Lower("slug"),
                name="organization_slug_unique_ignoring_case",
                violation_error_message="Another organization already uses this address.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("dashboard", args=[self.slug])

    def clean(self) -> None:
        """Refuse reserved addresses and ones another organization uses in other upper or lower case, on the
        settings page and in the Django admin alike (the constraint above is the database's backstop)."""
        super().clean()
        if not self.slug:
            return
        if self.slug.lower() in reserved_slugs():
            raise ValidationError({"slug": f"“{self.slug}” is reserved for the site's own pages; choose another."})
        if Organization.objects.filter(slug__iexact=self.slug).exclude(pk=self.pk).exists():
            raise ValidationError(
                {"slug": "Another organization already uses this address (upper and lower case count as the same)."}
            )


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Organization Admin"
        MEMBER = "member", "Member"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]
        ordering = ["organization__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


def _invitation_expiry() -> timezone.datetime:
    return timezone.now() + timedelta(days=14)


class Invitation(models.Model):
    """An e-mailed invitation to join an organization with a role; accepted by following its link."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


# ---------------------------------------------------------------------------------------------------------------
# Custom fields


class ObjectType(models.TextChoices):
    """The kinds of CRM record a custom field can belong to (and the names used for them in URLs and the API)."""

    ACCOUNT = "account", "Account"
    CONTACT = "contact", "Contact"
    OPPORTUNITY = "opportunity", "Opportunity"
    LEAD = "lead", "Lead"
    PRODUCT = "product", "Product"
    ACTIVITY = "activity", "Activity"


OBJECT_KEY_LENGTH = 50  # a Rox object's key: a standard one ("account") or an added one (its Salesforce API name)


class ObjectDefinition(models.Model):
    """An object the organization added to Rox: a Salesforce custom object (``Project__c``) or a standard object Rox
    has no model of its own for (``Case``). A per-organization definition, not a migration: its records are
    ``ObjectRecord`` rows, its fields custom fields, its lookups custom fields of type Link. The key (the lower-case
    Salesforce API name) names it wherever a standard object's name is used: URLs, custom fields, mappings, links,
    history."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="object_definitions")
    key = models.CharField(max_length=OBJECT_KEY_LENGTH, editable=False)
    sobject = models.CharField("Salesforce object", max_length=80, editable=False)
    label = models.CharField(max_length=80)
    plural = models.CharField("plural label", max_length=80)
    parent_tab = models.CharField(
        "shown under",
        max_length=20,
        blank=True,
        help_text="The CRM Mappings tab it belongs to; blank for the Custom objects tab.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Removed from Rox: not synced, records kept and restorable."
    )

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="objectdefinition_key_unique")]

    def __str__(self) -> str:
        return self.label

    @staticmethod
    def key_for(sobject: str) -> str:
        return sobject.lower()


class CustomField(models.Model):
    """The definition of an organization's own field on one object type; values live in the record's
    ``custom_values`` under ``api_name`` and are checked against this definition on every write."""

    class DataType(models.TextChoices):
        TEXT = "text", "Text"
        LONG_TEXT = "long_text", "Long text"
        NUMBER = "number", "Number"
        CURRENCY = "currency", "Currency"
        PERCENT = "percent", "Percent"
        DATE = "date", "Date"
        DATETIME = "datetime", "Date and time"
        CHECKBOX = "checkbox", "Checkbox"
        PICKLIST = "picklist", "Picklist"
        MULTI_PICKLIST = "multi_picklist", "Multi-select picklist"
        EMAIL = "email", "E-mail"
        PHONE = "phone", "Phone"
        URL = "url", "URL"
        LINK = "link", "Link"

    class Visibility(models.TextChoices):
        ORGANIZATION = "organization", "Everyone in the organization"
        PRIVATE = "private", "Only its creator"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="custom_fields")
    # A standard object (``ObjectType``) or the key of one the organization added (``ObjectDefinition``).
    object_type = models.CharField(max_length=OBJECT_KEY_LENGTH)
    label = models.CharField(max_length=80)
    api_name = models.CharField(
        "API name",
        max_length=60,
        help_text="Derived from the label; cannot change once the field holds a value or is mapped.",
    )
    data_type = models.CharField(max_length=20, choices=DataType.choices, default=DataType.TEXT)
    help_text = models.CharField(max_length=255, blank=True)
    max_length = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(131072)]
    )
    decimal_places = models.PositiveSmallIntegerField(
        "decimal places", null=True, blank=True, validators=[MaxValueValidator(8)]
    )
    min_value = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    max_value = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    required = models.BooleanField(default=False)
    options = models.JSONField(default=list, blank=True, help_text="Picklist options, in order.")
    target = models.CharField(
        "links to",
        max_length=OBJECT_KEY_LENGTH,
        blank=True,
        help_text="For a Link: the object whose record it holds (its value is that record's id).",
    )
    editable_in_rox = models.BooleanField(
        "editable in Rox", default=True, help_text="When off, only the Salesforce sync may set its value."
    )
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.ORGANIZATION)
    position = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    first_used_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When a record first held a value; freezes the API name.",
    )

    TEXT_TYPES = frozenset({"text", "long_text", "email", "phone", "url"})
    NUMERIC_TYPES = frozenset({"number", "currency", "percent"})
    DEFAULT_MAX_LENGTH: ClassVar[dict[str, int]] = {
        "text": 255,
        "long_text": 32768,
        "email": 80,
        "phone": 40,
        "url": 255,
    }
    LENGTH_CEILING: ClassVar[dict[str, int]] = {
        "text": 255,
        "long_text": 131072,
        "email": 80,
        "phone": 40,
        "url": 255,
    }

    class Meta:
        ordering = ["object_type", "position", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "object_type", "api_name"], name="customfield_api_name_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_label}: {self.label}"

    @property
    def object_label(self) -> str:
        standard = dict(ObjectType.choices)
        if self.object_type in standard:
            return str(standard[self.object_type])
        definition = ObjectDefinition.objects.filter(organization_id=self.organization_id, key=self.object_type)
        return str(definition.values_list("label", flat=True).first() or self.object_type)

    @property
    def effective_max_length(self) -> int | None:
        if self.data_type not in self.TEXT_TYPES:
            return None
        return self.max_length or self.DEFAULT_MAX_LENGTH[self.data_type]

    @property
    def effective_decimal_places(self) -> int:
        if self.decimal_places is not None:
            return self.decimal_places
        return 2 if self.data_type == self.DataType.CURRENCY else 0

    def visible_to(self, user: User | None) -> bool:
        if self.visibility == self.Visibility.ORGANIZATION:
            return True
        return user is not None and user.pk == self.created_by_id

    def clean(self) -> None:
        from roxcrm.custom_fields import validate_definition

        validate_definition(self)


# ---------------------------------------------------------------------------------------------------------------
# CRM records


class CrmRecord(models.Model):
    """What every CRM record has: its organization, a UUID for URLs, a version for optimistic concurrency,
    custom field values, and the time and author of each field's last change (kept by ``roxcrm.services``)."""

    object_type: ClassVar[str]

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    custom_values = models.JSONField(default=dict, blank=True, editable=False)
    # field name (custom fields as "custom.<api_name>") -> {"at": ISO time, "by": actor kind}
    field_times = models.JSONField(default=dict, blank=True, editable=False)
    # Set when the record is gone from the system of record (deleted or merged in Salesforce): hidden from lists,
    # kept with its history, restored if it comes back.
    removed_at = models.DateTimeField(null=True, blank=True, editable=False)
    removed_reason = models.CharField(max_length=255, blank=True, editable=False)

    class Meta:
        abstract = True

    def get_absolute_url(self) -> str:
        return reverse(f"{self.object_type}_detail", args=[self.organization.slug, self.code])

    def read_only_reason(self) -> str:
        """Why people, the API and agents may not edit this record (empty when they may)."""
        return ""


class Account(CrmRecord):
    object_type = ObjectType.ACCOUNT

    name = models.CharField(max_length=255)
    website = models.URLField(max_length=255, blank=True)
    domain = models.CharField(max_length=255, blank=True, editable=False, db_index=True)
    industry = models.CharField(max_length=40, blank=True)
    annual_revenue = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal(0))]
    )
    employee_count = models.PositiveIntegerField(
        "employees", null=True, blank=True, validators=[MaxValueValidator(99_999_999)]
    )
    billing_street = models.TextField(max_length=255, blank=True)
    billing_city = models.CharField(max_length=40, blank=True)
    billing_state = models.CharField("billing state/province", max_length=80, blank=True)
    billing_postal_code = models.CharField(max_length=20, blank=True)
    billing_country = models.CharField(max_length=80, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["organization", "name"]),
            models.Index(fields=["organization", "domain"]),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Derived here so that every path through full_clean (the edit service, the admin) keeps it in step.
        self.domain = normalize_domain(self.website)


class Contact(CrmRecord):
    object_type = ObjectType.CONTACT

    first_name = models.CharField(max_length=40, blank=True)
    last_name = models.CharField(max_length=80)
    email = models.EmailField(max_length=80, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=128, blank=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["organization", "email"]),
            models.Index(fields=["organization", "last_name"]),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def clean(self) -> None:
        # E-mail addresses are compared without case everywhere (matching, activity linking).
        self.email = (self.email or "").strip().lower()


class Opportunity(CrmRecord):
    object_type = ObjectType.OPPORTUNITY

    STAGE_SUGGESTIONS = (
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    )

    name = models.CharField(max_length=120)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities")
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    stage = models.CharField(max_length=255)
    close_date = models.DateField()
    next_step = models.CharField(max_length=255, blank=True)
    probability = models.PositiveSmallIntegerField(
        "probability (%)", null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["close_date", "name", "id"]
        verbose_name_plural = "opportunities"
        indexes = [models.Index(fields=["organization", "name"])]

    def __str__(self) -> str:
        return self.name


class Product(CrmRecord):
    object_type = ObjectType.PRODUCT

    name = models.CharField(max_length=255)
    product_code = models.CharField(max_length=255, blank=True)
    family = models.CharField(max_length=40, blank=True)
    is_active = models.BooleanField("active", default=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class OpportunityLineItem(CrmRecord):
    object_type = "opportunity_line_item"

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="line_items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="line_items")
    quantity = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal(1), validators=[MinValueValidator(Decimal("0.01"))]
    )
    unit_price = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0))
    total_price = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal(0), editable=False)

    class Meta:
        ordering = ["opportunity", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product}"

    def get_absolute_url(self) -> str:
        return self.opportunity.get_absolute_url()

    def clean(self) -> None:
        if self.opportunity_id and self.product_id and self.opportunity.organization_id != self.product.organization_id:
            raise ValidationError({"product": "The product belongs to another organization."})
        if self.quantity is not None and self.unit_price is not None:
            self.total_price = (self.quantity * self.unit_price).quantize(Decimal("0.01"))


class Lead(CrmRecord):
    object_type = ObjectType.LEAD

    STATUS_SUGGESTIONS = (
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    )

    first_name = models.CharField(max_length=40, blank=True)
    last_name = models.CharField(max_length=80)
    email = models.EmailField(max_length=80, blank=True)
    company = models.CharField(max_length=255)
    title = models.CharField(max_length=128, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=255, default="Open - Not Contacted")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_at = models.DateTimeField(null=True, blank=True, editable=False)
    converted_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    converted_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    converted_opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [models.Index(fields=["organization", "email"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def clean(self) -> None:
        self.email = (self.email or "").strip().lower()

    def read_only_reason(self) -> str:
        if self.converted_at:
            return "This lead was converted in Salesforce; edit the contact, account or opportunity it became."
        return ""


class ObjectRecord(CrmRecord):
    """A record of an object the organization added (``ObjectDefinition``): a name, an owner, and custom values
    (its other fields, and its links to parent records as Link fields). One table for every added object; the
    ``object_type`` column (the definition's key, copied so that no query needs the join) says which."""

    definition = models.ForeignKey(ObjectDefinition, on_delete=models.CASCADE, related_name="records", editable=False)
    object_type = models.CharField(max_length=OBJECT_KEY_LENGTH, editable=False)  # type: ignore[misc]
    name = models.CharField(max_length=255)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "object_type", "name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("object_record_detail", args=[self.organization.slug, self.object_type, self.code])


class FieldChange(models.Model):
    """One field of one record changed: what it was, what it became, when, and who or what changed it.

    The append-only history behind each record's ``field_times`` (which keeps only the latest change per field).
    """

    class ActorKind(models.TextChoices):
        USER = "user", "Person"
        AGENT = "agent", "Agent"
        API = "api", "API"
        SYNC = "sync", "Salesforce sync"
        SYSTEM = "system", "System"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(max_length=OBJECT_KEY_LENGTH)
    record_id = models.BigIntegerField()
    record_version = models.PositiveIntegerField(help_text="The record's version after this change.")
    field = models.CharField(max_length=100)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    changed_at = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["object_type", "record_id", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.object_type}#{self.record_id}.{self.field} by {self.actor_kind}"
