"""The bulk preview runs the acceptance's own checks (services.check_*): it cannot promise what the click refuses."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from messaging.models import Batch, Template
from messaging.services import MAX_BODY_CHARS
from tests.conftest import celery_eager


def preview(client, csv: str, **data) -> str:
    payload = {"channel": "sms", "name": "checks", "body": "", **data}
    payload["file"] = SimpleUploadedFile("rows.csv", csv.encode(), "text/csv")
    map_url = client.post(reverse("portal-bulk"), payload)["Location"]
    return client.post(map_url, {"phone_column": "0", "param_name": "1"})["Location"]


def test_a_row_the_acceptance_refuses_is_refused_in_the_preview(
    member_client, acme, sandbox, django_capture_on_commit_callbacks
):
    template = Template.objects.create(organization=acme, name="long", body="Hi {{name}}")
    long_name = "x" * MAX_BODY_CHARS
    preview_url = preview(
        member_client, f"phone,name\n+966501234567,Sara\n+971501234567,{long_name}\n", template=str(template.pk)
    )
    response = member_client.get(preview_url)
    shown = response.context["preview"]
    assert shown["good"] == 1
    assert [(r["row"], r["to"]) for r in shown["refused"]] == [(3, "+971501234567")]
    assert "at most 4,096" in shown["refused"][0]["reason"]

    with celery_eager(), django_capture_on_commit_callbacks(execute=True):
        member_client.post(preview_url)
    batch = Batch.objects.get(organization=acme)
    assert (batch.accepted, batch.refused) == (shown["good"], len(shown["refused"]))
