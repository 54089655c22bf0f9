"""Routes of the privacy API under /api/v1/ (no trailing slashes)."""

from django.urls import path

from retention import api

urlpatterns = [
    path("exports", api.ExportListView.as_view(), name="api-export-list"),
    path("exports/<uuid:public_id>", api.ExportDetailView.as_view(), name="api-export-detail"),
    path("exports/<uuid:public_id>/download", api.ExportDownloadView.as_view(), name="api-export-download"),
    path("organization/pause", api.PauseView.as_view(), name="api-organization-pause"),
    path("organization/resume", api.ResumeView.as_view(), name="api-organization-resume"),
    path("organization/restrict", api.RestrictView.as_view(), name="api-organization-restrict"),
    path("organization/unrestrict", api.UnrestrictView.as_view(), name="api-organization-unrestrict"),
    path("organization/delete", api.DeleteView.as_view(), name="api-organization-delete"),
]
