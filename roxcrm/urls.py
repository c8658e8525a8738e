from django.contrib import admin
from django.urls import include, path, register_converter
from django.urls.converters import IntConverter

from api import urls as api_urls
from integrations import urls as integration_urls
from roxcrm import record_types, views
from roxcrm.record_views import object_record_urlpatterns, record_urlpatterns


class DatabaseIdConverter(IntConverter):
    """An id of a database row: at most 18 digits. A longer number names no row, and SQLite cannot even compare
    one above 2**63 (the lookup fails with OverflowError), so it is a 404 here."""

    regex = "[0-9]{1,18}"


register_converter(DatabaseIdConverter, "id")

organization_patterns = [
    path("", views.dashboard, name="dashboard"),
    *record_urlpatterns(record_types.ACCOUNT, "accounts"),
    *record_urlpatterns(record_types.CONTACT, "contacts"),
    *record_urlpatterns(record_types.OPPORTUNITY, "opportunities"),
    *record_urlpatterns(record_types.LEAD, "leads"),
    *record_urlpatterns(record_types.PRODUCT, "products"),
    *object_record_urlpatterns(),
    path("", include("activities.urls")),
    path("settings/", views.settings_index, name="settings"),
    path("settings/organization/", views.settings_organization, name="settings_organization"),
    path("settings/members/", views.settings_members, name="settings_members"),
    path("settings/members/<id:user_id>/role/", views.member_role, name="member_role"),
    path("settings/members/<id:user_id>/remove/", views.member_remove, name="member_remove"),
    path("settings/invitations/<uuid:code>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("settings/custom-fields/", views.custom_field_list, name="custom_field_list"),
    path("settings/custom-fields/new/", views.custom_field_edit, name="custom_field_create"),
    path("settings/custom-fields/<uuid:code>/", views.custom_field_edit, name="custom_field_edit"),
    path(
        "settings/custom-fields/<uuid:code>/delete/",
        views.custom_field_delete_view,
        name="custom_field_delete",
    ),
    path("settings/integrations/", include(integration_urls.organization_patterns)),
    path("settings/api-tokens/", include(api_urls.organization_patterns)),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("auth/", include("allauth.urls")),
    path("organizations/new/", views.organization_new, name="organization_create"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    path("integrations/", include("integrations.urls")),
    path("api/v1/", include("api.urls")),
    path("o/<slug:org_slug>/", include(organization_patterns)),
]
