"""Organization pages: home, dashboard, switching, and Settings (organization, members, custom fields)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from roxcrm import objects
from roxcrm.adapters import INVITATION_SESSION_KEY
from roxcrm.forms import CustomFieldForm, InviteForm, OrganizationForm, RoleForm
from roxcrm.models import (
    Account,
    Contact,
    CustomField,
    Invitation,
    Lead,
    Membership,
    Opportunity,
)
from roxcrm.services import (
    MembershipError,
    custom_field_delete,
    custom_field_save,
    invitation_accept,
    invitation_create,
    membership_remove,
    membership_set_role,
    organization_create,
    organization_create_allowed,
    unique_slug,
)
from roxcrm.tenancy import SESSION_ORG_KEY, get_object_for_member, member_required, org_admin_required


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send the user to their active organization, or to the first they belong to, or to create one."""
    memberships = Membership.objects.filter(user=request.user).select_related("organization")
    preferred = request.session.get(SESSION_ORG_KEY)
    membership = memberships.filter(organization__slug=preferred).first() or memberships.first()
    if membership is None:
        return redirect("organization_create")
    return redirect("dashboard", membership.organization.slug)


class NewOrganizationForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organization name")


@login_required
def organization_new(request: HttpRequest) -> HttpResponse:
    if not organization_create_allowed(user=request.user):
        # The page says why rather than offering a form that would be refused (ORGANIZATION_CREATION=staff).
        return render(request, "roxcrm/organization_new.html", {"allowed": False}, status=403)
    form = NewOrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        organization = organization_create(name=name, slug=unique_slug(name), user=request.user)
        messages.success(request, f"{organization} is ready. You are its admin.")
        return redirect("dashboard", organization.slug)
    return render(request, "roxcrm/organization_new.html", {"form": form, "allowed": True})


@member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    org = request.org
    counts = [
        ("Accounts", "account_list", Account.objects.filter(organization=org).count()),
        ("Contacts", "contact_list", Contact.objects.filter(organization=org).count()),
        ("Opportunities", "opportunity_list", Opportunity.objects.filter(organization=org).count()),
        ("Leads", "lead_list", Lead.objects.filter(organization=org).count()),
    ]
    open_opportunities = (
        Opportunity.objects.filter(organization=org)
        .exclude(stage__in=["Closed Won", "Closed Lost"])
        .select_related("account")
        .order_by("close_date")[:8]
    )
    return render(request, "roxcrm/dashboard.html", {"counts": counts, "open_opportunities": open_opportunities})


# ---------------------------------------------------------------------------------------------------------------
# Settings


@member_required
def settings_index(request: HttpRequest) -> HttpResponse:
    if request.membership.is_admin:
        return redirect("settings_organization", request.org.slug)
    return redirect("settings_members", request.org.slug)


@org_admin_required
def settings_organization(request: HttpRequest) -> HttpResponse:
    org = request.org
    form = OrganizationForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        org.name = form.cleaned_data["name"]
        org.slug = form.cleaned_data["slug"]
        org.save(update_fields=["name", "slug"])
        messages.success(request, "Organization settings saved.")
        return redirect("settings_organization", org.slug)
    return render(request, "roxcrm/settings_organization.html", {"form": form, "tab": "organization"})


@member_required
def settings_members(request: HttpRequest) -> HttpResponse:
    """Everyone sees who the members are; admins also invite people and change roles."""
    org = request.org
    form = InviteForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.is_admin:
            messages.error(request, "Only organization admins can invite people.")
            return redirect("settings_members", org.slug)
        if form.is_valid():
            try:
                invitation = invitation_create(
                    organization=org,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                    # In development the app runs wherever `make run` put it; in production SITE_URL is the address
                    # (a request's Host header is not trusted for links sent out).
                    site_url=request.build_absolute_uri("/") if settings.DEBUG else None,
                )
            except MembershipError as exc:
                form.add_error("email", str(exc))
            else:
                if invitation.mail_failed:
                    messages.warning(
                        request,
                        f"The invitation to {invitation.email} is ready, but the e-mail could not be sent (this site "
                        f"cannot reach its mail server). Send them this link yourself: {invitation.link}",
                    )
                else:
                    messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("settings_members", org.slug)
    memberships = Membership.objects.filter(organization=org).select_related("user").order_by("user__email")
    invitations = Invitation.objects.filter(organization=org, accepted_at=None).select_related("invited_by")
    return render(
        request,
        "roxcrm/settings_members.html",
        {
            "form": form,
            "memberships": memberships,
            "invitations": invitations,
            "roles": Membership.Role.choices,
            "tab": "members",
        },
    )


@require_POST
@org_admin_required
def member_role(request: HttpRequest, user_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, organization=request.org, user_id=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    else:
        try:
            membership_set_role(membership=membership, role=form.cleaned_data["role"])
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    return redirect("settings_members", request.org.slug)


@require_POST
@org_admin_required
def member_remove(request: HttpRequest, user_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, organization=request.org, user_id=user_id)
    try:
        membership_remove(membership=membership)
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.email} was removed from {request.org}.")
    return redirect("settings_members", request.org.slug)


@require_POST
@org_admin_required
def invitation_revoke(request: HttpRequest, code: str) -> HttpResponse:
    invitation = get_object_for_member(request, Invitation, code, accepted_at=None)
    invitation.delete()
    messages.success(request, f"The invitation of {invitation.email} was withdrawn.")
    return redirect("settings_members", request.org.slug)


def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation e-mail. Anonymous visitors are asked to sign up (or sign in) first."""
    invitation = get_object_or_404(Invitation.objects.select_related("organization", "invited_by"), token=token)
    if not request.user.is_authenticated:
        if invitation.is_open:
            request.session[INVITATION_SESSION_KEY] = invitation.token
        return render(request, "roxcrm/invitation.html", {"invitation": invitation})
    if request.method == "POST" and invitation.is_open:
        try:
            membership = invitation_accept(invitation=invitation, user=request.user)
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            request.session.pop(INVITATION_SESSION_KEY, None)
            messages.success(request, f"Welcome to {membership.organization}.")
            return redirect("dashboard", membership.organization.slug)
    return render(request, "roxcrm/invitation.html", {"invitation": invitation})


@member_required
def custom_field_list(request: HttpRequest) -> HttpResponse:
    definitions = [
        d
        for d in CustomField.objects.filter(organization=request.org).select_related("created_by")
        if d.visible_to(request.user)
    ]
    groups = [
        (label, [d for d in definitions if d.object_type == value])
        for value, label in objects.custom_field_objects(request.org)
    ]
    return render(
        request,
        "roxcrm/settings_custom_fields.html",
        {"groups": groups, "has_fields": bool(definitions), "tab": "custom_fields"},
    )


@org_admin_required
def custom_field_edit(request: HttpRequest, code: str | None = None) -> HttpResponse:
    field = _custom_field_for(request, code) if code else CustomField(organization=request.org)
    initial = {"object_type": request.GET.get("object_type")} if not code else None
    form = CustomFieldForm(request.POST or None, instance=field, initial=initial, organization=request.org)
    if request.method == "POST" and form.is_valid():
        try:
            custom_field_save(field=form.instance, user=request.user)
        except (ValidationError, IntegrityError) as exc:
            form.add_error(
                "api_name", exc.messages[0] if isinstance(exc, ValidationError) else "That API name is taken."
            )
        else:
            messages.success(request, f"Custom field “{field.label}” saved.")
            return redirect("custom_field_list", request.org.slug)
    return render(request, "roxcrm/custom_field_form.html", {"form": form, "field": field, "tab": "custom_fields"})


@org_admin_required
def custom_field_delete_view(request: HttpRequest, code: str) -> HttpResponse:
    field = _custom_field_for(request, code)
    if request.method == "POST":
        cleared = custom_field_delete(field=field)
        messages.success(request, f"Custom field “{field.label}” deleted; {cleared} record(s) held a value.")
        return redirect("custom_field_list", request.org.slug)
    return render(request, "roxcrm/custom_field_delete.html", {"field": field, "tab": "custom_fields"})


def _custom_field_for(request: HttpRequest, code: str) -> CustomField:
    """A custom field of the organization that this person may see (someone else's private field is a 404)."""
    field = get_object_for_member(request, CustomField, code)
    if not field.visible_to(request.user):
        raise Http404("No such custom field.")
    return field
