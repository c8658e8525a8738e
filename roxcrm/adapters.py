"""How django-allauth signs people up here: who may sign up, with which address, and what happens when the
confirmation e-mail cannot be sent."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

from roxcrm.models import Invitation

logger = logging.getLogger(__name__)

INVITATION_SESSION_KEY = "invitation_token"
# Set on a request whose sign-up confirmation e-mail could not be sent, so that allauth's "sent" message is replaced.
_UNSENT_ATTRIBUTE = "rox_confirmation_unsent_to"
_CONFIRMATION_SENT_MESSAGE = "account/messages/email_confirmation_sent.txt"


def followed_invitation(request: HttpRequest) -> Invitation | None:
    """The invitation whose link this visitor followed, while it is still open (not used, not expired)."""
    token = request.session.get(INVITATION_SESSION_KEY)
    if not token:
        return None
    invitation = Invitation.objects.filter(token=token).first()
    return invitation if invitation is not None and invitation.is_open else None


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Sign-up is open when the site allows it; when it does not, only to someone following an open invitation,
        and then only for the invited address (``SignupForm``)."""
        return settings.ACCOUNT_ALLOW_SIGNUPS or followed_invitation(request) is not None

    def send_confirmation_mail(self, request: HttpRequest, emailconfirmation: Any, signup: bool) -> None:
        try:
            super().send_confirmation_mail(request, emailconfirmation, signup)
        except OSError:  # smtplib's errors are OSErrors too: refused, timed out, authentication, unknown host
            # allauth sends this after the account is saved: a mail server that is down or not configured must not
            # answer the sign-up with a 500 for an account that exists. The person is told, and can resend it.
            address = emailconfirmation.email_address.email
            logger.exception("Could not send the confirmation e-mail to %s", address)
            setattr(request, _UNSENT_ATTRIBUTE, address)
            messages.warning(
                request,
                f"Your account is ready, but the confirmation e-mail to {address} could not be sent. "
                f"You can send it again later from E-mail addresses ({reverse('account_email')}).",
            )

    def send_password_reset_mail(self, user: Any, email: str, context: dict[str, Any]) -> None:
        try:
            super().send_password_reset_mail(user, email, context)
        except OSError:  # as for the confirmation e-mail: a mail server that is down is not a 500
            logger.exception("Could not send the password reset e-mail to %s", email)
            if self.request is not None:
                messages.error(
                    self.request,
                    f"The password reset e-mail to {email} could not be sent: this site cannot reach its mail "
                    "server. Please try again later, or ask the site's operator.",
                )

    def add_message(
        self,
        request: HttpRequest,
        level: int,
        message_template: str | None = None,
        message_context: dict[str, Any] | None = None,
        extra_tags: str = "",
        message: str | None = None,
    ) -> None:
        if message_template == _CONFIRMATION_SENT_MESSAGE and getattr(request, _UNSENT_ATTRIBUTE, None):
            return  # it was not sent: send_confirmation_mail said so instead
        super().add_message(request, level, message_template, message_context, extra_tags, message)


class SignupForm(AllauthSignupForm):
    """allauth's sign-up form (``ACCOUNT_FORMS``), which, when sign-up is open only through an invitation, takes only
    the invited address: the invitation link is a way in for its addressee, not for whoever holds the link."""

    def clean_email(self) -> str:
        email = super().clean_email()
        request = context.request
        if settings.ACCOUNT_ALLOW_SIGNUPS or request is None:
            return email
        invitation = followed_invitation(request)
        if invitation is None:
            raise ValidationError("Sign-up is closed: you need an invitation to create an account.")
        if invitation.email.lower() != email.lower():
            raise ValidationError(
                f"This invitation is for {invitation.email}: sign up with that address, or ask for an invitation "
                "to yours."
            )
        return email
