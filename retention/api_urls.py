"""Routes of the privacy API under /api/v1/ (no trailing slashes)."""

from django.urls import include, path

from retention import api

# The owner's switches over the whole organization.
organization_urls = [
    path("pause", api.PauseView.as_view(), name="api-organization-pause"),
    path("resume", api.ResumeView.as_view(), name="api-organization-resume"),
    path("restrict", api.RestrictView.as_view(), name="api-organization-restrict"),
    path("unrestrict", api.UnrestrictView.as_view(), name="api-organization-unrestrict"),
    path("delete", api.DeleteView.as_view(), name="api-organization-delete"),
]

urlpatterns = [
    path("exports", api.ExportListView.as_view(), name="api-export-list"),
    path("exports/<uuid:public_id>", api.ExportDetailView.as_view(), name="api-export-detail"),
    path("exports/<uuid:public_id>/download", api.ExportDownloadView.as_view(), name="api-export-download"),
    path("organization/", include(organization_urls)),
]
