from typing import Any

from django.http import HttpRequest

from roxcrm.models import Membership, ObjectDefinition
from roxcrm.services import organization_create_allowed


def organization(request: HttpRequest) -> dict[str, Any]:
    """The active organization and the user's other organizations, for the navigation bar of every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = list(Membership.objects.filter(user=user).select_related("organization"))
    org = getattr(request, "org", None)
    return {
        "org": org,
        # Objects the organization added (a Salesforce custom object such as Project__c): under "More".
        "added_objects": list(ObjectDefinition.objects.filter(organization=org, archived_at=None)) if org else [],
        "membership": getattr(request, "membership", None),
        "memberships": memberships,
        "can_create_organization": organization_create_allowed(user=user),
    }
