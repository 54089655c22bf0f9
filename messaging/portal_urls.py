"""Portal pages of the messaging app (mounted under /portal/ by jood/portal_urls.py)."""

from django.urls import path

from messaging import analytics_views, views, views_inbox

urlpatterns = [
    path("", views.dashboard, name="portal-dashboard"),
    path("messages/", views.message_list, name="portal-messages"),
    path("messages/export.csv", views.message_export, name="portal-messages-export"),
    path("messages/<uuid:public_id>/", views.message_detail, name="portal-message"),
    path("messages/<uuid:public_id>/status.json", views.message_status_json, name="portal-message-status"),
    path("messages/<uuid:public_id>/cancel/", views.message_cancel, name="portal-message-cancel"),
    path("analytics/", analytics_views.analytics_page, name="portal-analytics"),
    path("analytics/export.csv", analytics_views.analytics_export, name="portal-analytics-export"),
    path("send/", views.send, name="portal-send"),
    path("bulk/", views.bulk_upload, name="portal-bulk"),
    path("bulk/<str:token>/map/", views.bulk_map, name="portal-bulk-map"),
    path("bulk/<str:token>/preview/", views.bulk_preview, name="portal-bulk-preview"),
    path("batches/", views.batch_list, name="portal-batches"),
    path("batches/<uuid:public_id>/", views.batch_detail, name="portal-batch"),
    path("batches/<uuid:public_id>/progress.json", views.batch_progress_json, name="portal-batch-progress"),
    path("batches/<uuid:public_id>/refused.csv", views.batch_refused_csv, name="portal-batch-refused"),
    path("templates/", views.template_list, name="portal-templates"),
    path("templates/new/", views.template_edit, name="portal-template-new"),
    path("templates/sync/", views.template_sync, name="portal-template-sync"),
    path("templates/<uuid:public_id>/edit/", views.template_edit, name="portal-template-edit"),
    path("templates/<uuid:public_id>/delete/", views.template_delete, name="portal-template-delete"),
    path("inbox/", views_inbox.inbox_list, name="portal-inbox"),
    path("inbox/<str:phone>/", views_inbox.conversation, name="portal-inbox-conversation"),
    path("opt-outs/", views.opt_out_list, name="portal-opt-outs"),
    path("opt-outs/<int:pk>/remove/", views.opt_out_remove, name="portal-opt-out-remove"),
]
