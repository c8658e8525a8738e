from django.urls import path

from integrations import views, views_mappings

# Under /o/<org_slug>/settings/integrations/
organization_patterns = [
    path("", views.integrations_index, name="integrations"),
    path("salesforce/", views.salesforce_overview, name="salesforce_overview"),
    path("salesforce/setup/", views.setup_start, name="salesforce_setup_start"),
    path("salesforce/setup/sign-in/", views.setup_sign_in, name="salesforce_setup_sign_in"),
    path("salesforce/setup/checks/", views.setup_checks, name="salesforce_setup_checks"),
    path("salesforce/setup/continue/", views.setup_resume, name="salesforce_setup_resume"),
    path("salesforce/setup/first-sync/", views.setup_first_sync, name="salesforce_setup_first_sync"),
    path("salesforce/setup/mappings/", views.setup_mappings, name="salesforce_setup_mappings"),
    path("salesforce/setup/test/", views.setup_test, name="salesforce_setup_test"),
    path("salesforce/setup/submit/", views.setup_submit, name="salesforce_setup_submit"),
    path("salesforce/recheck/", views.recheck, name="salesforce_recheck"),
    path("salesforce/set-up/", views.setup_salesforce, name="salesforce_set_up"),
    path("salesforce/health/", views.sync_health, name="sync_health"),
    path("salesforce/health/retry/", views.sync_retry, name="sync_retry"),
    path("salesforce/health/outbox/", views.outbox_action, name="outbox_action"),
    path("salesforce/health/undo/", views.writeback_undo, name="writeback_undo"),
    path("salesforce/disconnect/", views.disconnect, name="salesforce_disconnect"),
    path("salesforce/mappings/refresh/", views_mappings.mappings_refresh, name="mappings_refresh"),
    path("salesforce/mappings/resync/", views_mappings.mappings_resync, name="mappings_resync"),
    path("salesforce/mappings/objects/add/", views_mappings.mappings_add_object, name="mappings_add_object"),
    path(
        "salesforce/mappings/objects/<uuid:code>/remove/",
        views_mappings.mappings_remove_object,
        name="mappings_remove_object",
    ),
    path("salesforce/mappings/<str:tab>/", views_mappings.mappings_tab, name="mappings_tab"),
    path(
        "salesforce/mappings/<str:tab>/<uuid:code>/add-field/",
        views_mappings.mappings_add_field,
        name="mappings_add_field",
    ),
]

# The one OAuth callback registered with Salesforce; the organization comes from the session's state.
urlpatterns = [path("salesforce/callback/", views.oauth_callback, name="salesforce_callback")]
