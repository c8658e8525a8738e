"""Settings → API tokens: organization admins create tokens (the secret is shown once), see them, revoke them, and
re-issue those that died with the person who created them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.forms import TokenForm
from api.models import ApiToken
from api.services import TokenNotReissued, token_create, token_reissue, token_revoke, tokens_of
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
        messages.success(request, f"Token “{token.name}” created. Copy its secret now: it is not shown again.")
        form = TokenForm()
    return _tokens_page(request, form, secret)


def _tokens_page(request: HttpRequest, form: TokenForm, secret: str | None) -> HttpResponse:
    # Rendered rather than redirected when there is a new secret: it must not pass through the session or a message
    # store.
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "tokens": tokens_of(organization=request.org),
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


@require_POST
@org_admin_required
def token_reissue_view(request: HttpRequest, code: str) -> HttpResponse:
    dead = get_object_for_member(request, ApiToken, code)
    try:
        token, secret = token_reissue(token=dead, by=request.user)
    except TokenNotReissued as exc:
        messages.error(request, str(exc))
        return redirect("api_tokens", request.org.slug)
    messages.success(
        request,
        f"Token “{token.name}” was re-issued: the old one is revoked, the new one acts for you. Copy its secret into "
        "the tool that used the old one now: it is not shown again.",
    )
    return _tokens_page(request, TokenForm(), secret)
