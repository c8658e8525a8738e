"""Tenancy by construction: every organization page resolves the organization from the URL for the signed-in
member (404 for anyone else), and every record is fetched through the organization."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from roxcrm.models import Membership

M = TypeVar("M", bound=Model)
View = Callable[..., HttpResponse]

SESSION_ORG_KEY = "active_organization"


def member_required(view: View) -> View:
    """Sign-in required; ``org_slug`` must name an organization the user belongs to, or the answer is 404.

    Sets ``request.org`` and ``request.membership``, and remembers the organization as the active one.
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, org_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = get_object_or_404(
            Membership.objects.select_related("organization"), organization__slug=org_slug, user=request.user
        )
        request.membership = membership  # type: ignore[attr-defined]
        request.org = membership.organization  # type: ignore[attr-defined]
        if request.session.get(SESSION_ORG_KEY) != org_slug:
            request.session[SESSION_ORG_KEY] = org_slug
        return view(request, *args, **kwargs)

    return wrapper


def org_admin_required(view: View) -> View:
    """Like ``member_required``, and the member must be an Organization Admin (else 403)."""

    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.is_admin:  # type: ignore[attr-defined]
            raise PermissionDenied("Only organization admins can do this.")
        return view(request, *args, **kwargs)

    return member_required(inner)


def get_object_for_member(request: HttpRequest, model: type[M], code: Any, **filters: Any) -> M:
    """The ``model`` row with this ``code`` in the request's organization, or 404."""
    return get_object_or_404(model, organization=request.org, code=code, **filters)  # type: ignore[attr-defined]
