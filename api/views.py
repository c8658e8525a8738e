"""Settings → API tokens: organization admins create tokens (the secret is shown once), see them and revoke them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.forms import TokenForm
from api.models import ApiToken
from api.services import token_create, token_revoke
from roxcrm.tenancy import get_object_for_member, org_admin_required


@org_admin_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        token, secret = token_create(
            organization=request.org,
            name=form.cleaned_data["name"],
            kind=form.cleaned_data["kind"],
            scope=form.cleaned_data["scope"],
            created_by=request.user,
        )
        # Rendered rather than redirected: the secret must not pass through the session or a message store.
        messages.success(request, f"Token “{token.name}” created. Copy its secret now: it is not shown again.")
        form = TokenForm()
    tokens = ApiToken.objects.filter(organization=request.org).select_related("created_by")
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "tokens": tokens,
            "secret": secret,
            "rate_limit": settings.API_RATE_LIMIT_PER_MINUTE,
            "tab": "api_tokens",
        },
    )


@require_POST
@org_admin_required
def token_revoke_view(request: HttpRequest, code: str) -> HttpResponse:
    token = token_revoke(token=get_object_for_member(request, ApiToken, code))
    messages.success(request, f"Token “{token.name}” was revoked; it no longer works.")
    return redirect("api_tokens", request.org.slug)
