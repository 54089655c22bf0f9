from django.urls import path

from messaging import api

urlpatterns = [
    path("messages", api.MessageList.as_view(), name="api-messages"),
    path("messages/bulk", api.BulkSend.as_view(), name="api-messages-bulk"),
    path("messages/export", api.MessageExport.as_view(), name="api-messages-export"),
    path("messages/<uuid:public_id>", api.MessageDetail.as_view(), name="api-message"),
    path("messages/<uuid:public_id>/cancel", api.MessageCancel.as_view(), name="api-message-cancel"),
    path("batches/<uuid:public_id>", api.BatchDetail.as_view(), name="api-batch"),
    path("templates", api.TemplateList.as_view(), name="api-templates"),
    path("templates/<uuid:public_id>", api.TemplateDetail.as_view(), name="api-template"),
    path("opt-outs", api.OptOutList.as_view(), name="api-opt-outs"),
    path("opt-outs/<int:pk>", api.OptOutDetail.as_view(), name="api-opt-out"),
    path("estimate", api.Estimate.as_view(), name="api-estimate"),
    path("analytics", api.Analytics.as_view(), name="api-analytics"),
    path("analytics/export", api.AnalyticsExport.as_view(), name="api-analytics-export"),
]
