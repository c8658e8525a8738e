from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest

INVITATION_SESSION_KEY = "invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Sign-up is open when the site allows it, and always to someone following an invitation link."""
        return settings.ACCOUNT_ALLOW_SIGNUPS or bool(request.session.get(INVITATION_SESSION_KEY))
