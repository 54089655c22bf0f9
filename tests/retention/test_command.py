"""`manage.py purge_message_logs`: what it prints, and its answer to bad input."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from messaging.models import Message
from retention.models import PurgeRun
from tests.factories import make_message
from tests.retention.conftest import NOW, OLD, YOUNG

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("purge_message_logs", *args, stdout=out)
    return out.getvalue()


def test_it_prints_what_it_deleted_per_table(clock, acme):
    make_message(acme, NOW - OLD, status="delivered")
    make_message(acme, NOW - YOUNG, status="delivered")

    output = run()

    assert "messaging.Message" in output and "deleted 1" in output
    assert "messaging.MessageEvent" in output and "webhooks.WebhookEvent" in output
    assert "cut-off for default retention: 2026-08-22T10:00:00+00:00" in output
    assert "Done in" in output
    assert Message.objects.count() == 1
    assert PurgeRun.objects.get().trigger == "command"


def test_a_dry_run_says_what_it_would_delete(clock, acme):
    make_message(acme, NOW - OLD, status="delivered")

    output = run("--dry-run")

    assert "dry run" in output
    assert "messaging.Message" in output and "would delete 1" in output
    assert Message.objects.count() == 1
    assert PurgeRun.objects.get().dry_run is True


def test_it_purges_one_organization_by_id_or_public_id(clock, acme, globex):
    make_message(acme, NOW - OLD, status="delivered")
    theirs = make_message(globex, NOW - OLD, status="delivered")

    output = run("--organization", str(acme.public_id))

    assert f"organization {acme.pk} (Acme Corp)" in output
    assert list(Message.objects.all()) == [theirs]
    run("--organization", str(globex.pk))
    assert not Message.objects.exists()


@pytest.mark.parametrize("value", ["999999", "not-an-id", "0b3f2a3c-8d7e-4f5a-9b6c-1d2e3f4a5b6c"])
def test_an_unknown_organization_is_an_error(value, acme):
    with pytest.raises(CommandError, match="Unknown organization"):
        run("--organization", value)
    assert not PurgeRun.objects.exists()


def test_an_unknown_organization_exits_non_zero(acme):
    from django.core.management import ManagementUtility

    utility = ManagementUtility(["manage.py", "purge_message_logs", "--organization", "999999"])
    with pytest.raises(SystemExit) as exit_info:
        utility.execute()
    assert exit_info.value.code != 0
