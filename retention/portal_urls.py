"""Portal pages of the retention app (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import path

from retention import views

urlpatterns = [
    path("privacy/", views.privacy_page, name="portal-privacy"),
    path("privacy/export/", views.request_export, name="portal-privacy-export"),
    path(
        "privacy/exports/<uuid:public_id>/download/<str:token>/",
        views.download_export,
        name="portal-privacy-export-download",
    ),
    path("privacy/my-data.<str:format>", views.my_data, name="portal-privacy-my-data"),
    path("privacy/consent/", views.consent, name="portal-privacy-consent"),
    path("privacy/restrict/", views.restrict, name="portal-privacy-restrict"),
    path("privacy/cancel-deletion/", views.cancel_deletion, name="portal-privacy-cancel-deletion"),
    path("privacy/pause/", views.pause, name="portal-privacy-pause"),
    path("privacy/resume/", views.resume, name="portal-privacy-resume"),
    path("privacy/delete-organization/", views.delete_organization, name="portal-privacy-delete-organization"),
    path("privacy/delete-account/", views.delete_account, name="portal-privacy-delete-account"),
]
