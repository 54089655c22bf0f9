"""A running Celery worker survives its broker going away and resumes when it returns.

Redis: a private redis-server, killed and started again on the same port.
RabbitMQ (on 127.0.0.1:5672, a vhost of this test's own): reached through a
TCP proxy that the test cuts and restores. Either way the worker process must
still be alive afterwards and send what is published once the broker is back.

The dispatch lanes (id sets, wake-ups) live in REDIS_URL's Redis, not in the
broker: with RabbitMQ, worker and publisher share a private redis-server as
REDIS_URL, as a deployment with RabbitMQ and Redis does.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import redis
from django.db import connection
from django.test import override_settings

from jood.celery import app as celery_app
from messaging import dispatch
from messaging.models import Message, Status
from tests.messaging.conftest import queued_rows
from tests.messaging.test_workers import MockTwilio, start_worker, stop, twilio_account, wait_for
from tests.ops.processes import PrivateRedis, TcpProxy, database_url_via

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RABBITMQ_PORT = 5672


@contextlib.contextmanager
def publishing_to(url: str, redis_url: str):
    """Publish from this process to broker `url` with `redis_url` as REDIS_URL (whatever the test settings say).

    The app is put back as it was afterwards.
    """
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager, celery_app._pool, celery_app.amqp._producer_pool
    conf.broker_url, conf.task_always_eager = url, False
    # New connection and producer pools for `url` (the producer pool would keep the old connections).
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        with override_settings(REDIS_URL=redis_url):
            yield
    finally:
        conf.broker_url, conf.task_always_eager, celery_app._pool, celery_app.amqp._producer_pool = saved


def publish(url: str, ids: list[int], redis_url: str | None = None) -> None:
    """Publish as a web process whose broker is `url` and REDIS_URL `redis_url` (by default the broker, if Redis)."""
    if redis_url is None:
        redis_url = url if url.startswith("redis") else ""
    with publishing_to(url, redis_url):
        dispatch.publish_dispatch(ids)


def all_sent(ids) -> bool:
    return not Message.objects.filter(pk__in=ids).exclude(status=Status.SENT).exists()


def send_through_an_outage(organization, broker_url: str, outage, restore, redis_url: str | None = None) -> None:
    """Start a worker on `broker_url` (REDIS_URL `redis_url`, by default the broker), see it send,
    run the outage, restore, and see it send again."""
    if redis_url is None:
        redis_url = broker_url
    server = MockTwilio()
    worker = None
    try:
        twilio_account(organization, server.url)
        worker = start_worker(REDIS_URL=redis_url, CELERY_BROKER_URL=broker_url)
        before = queued_rows(organization, 3)
        publish(broker_url, before, redis_url)
        assert wait_for(lambda: all_sent(before), timeout=60), worker.stderr.read1().decode()[-3000:]

        outage()
        time.sleep(4)  # long enough for the worker to notice (and, before the fix, to give up)
        restore()

        after = [pk for pk in queued_rows(organization, 6) if pk not in before]
        # The first publish can land while the worker is still reconnecting: publish until it is taken.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all_sent(after):
            assert worker.poll() is None, "the worker exited: " + worker.stderr.read().decode()[-3000:]
            try:
                publish(broker_url, after, redis_url)
            except Exception:
                pass
            wait_for(lambda: all_sent(after), timeout=5)
        assert worker.poll() is None, "the worker exited: " + worker.stderr.read().decode()[-3000:]
        assert all_sent(after), list(Message.objects.filter(pk__in=after).values_list("status", flat=True))
    finally:
        if worker is not None:
            stop(worker)
        server.close()


def test_the_worker_reconnects_after_redis_restarts(acme):
    redis_server = PrivateRedis()
    try:
        send_through_an_outage(acme, redis_server.url, redis_server.stop, redis_server.start)
    finally:
        redis_server.stop()


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", RABBITMQ_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def rabbitmq_vhost():
    if not rabbitmq_answers():
        pytest.skip("RabbitMQ does not answer on 127.0.0.1:5672")
    vhost = f"jood-test-{uuid.uuid4().hex[:10]}"
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    try:
        subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        vhost = ""  # no rabbitmqctl rights here: the default vhost
    yield vhost
    if vhost:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


def test_a_message_goes_through_a_worker_on_rabbitmq(acme, rabbitmq_vhost):
    """RabbitMQ as broker, Redis (REDIS_URL) for the lanes: the deployment README "Scaling out" describes."""
    url = f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}/{rabbitmq_vhost}"
    redis_server = PrivateRedis()
    server = MockTwilio()
    worker = start_worker(REDIS_URL=redis_server.url, CELERY_BROKER_URL=url)
    try:
        twilio_account(acme, server.url)
        ids = queued_rows(acme, 5)
        publish(url, ids, redis_server.url)
        assert wait_for(lambda: all_sent(ids), timeout=60), worker.stderr.read1().decode()[-3000:]
        # The lane's ids went through this Redis (not the broker), and nothing is left waiting there.
        client = redis.Redis.from_url(redis_server.url)
        assert not [k for k in client.scan_iter("jood:lane:*") if client.scard(k)]
    finally:
        stop(worker)
        server.close()
        redis_server.stop()
    assert sum(server.sends.values()) == 5


def test_a_message_goes_through_a_worker_on_rabbitmq_without_redis(acme, rabbitmq_vhost):
    """RabbitMQ and no REDIS_URL anywhere: no lane sets to share, so one task per chunk on its lane's queue."""
    url = f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}/{rabbitmq_vhost}"
    server = MockTwilio()
    worker = start_worker(REDIS_URL="", CELERY_BROKER_URL=url)
    try:
        twilio_account(acme, server.url)
        ids = queued_rows(acme, 5)
        publish(url, ids, "")
        assert wait_for(lambda: all_sent(ids), timeout=60), worker.stderr.read1().decode()[-3000:]
    finally:
        stop(worker)
        server.close()
    assert sum(server.sends.values()) == 5


def test_the_worker_reconnects_after_a_rabbitmq_outage(acme, rabbitmq_vhost):
    proxy = TcpProxy(RABBITMQ_PORT)
    redis_server = PrivateRedis()
    try:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/{rabbitmq_vhost}"
        send_through_an_outage(acme, url, proxy.cut, proxy.restore, redis_url=redis_server.url)
    finally:
        proxy.close()
        redis_server.stop()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)")
def test_the_worker_reconnects_after_a_database_outage(acme):
    """The worker's PostgreSQL goes away (a cut proxy) and comes back: what is published after is sent."""
    redis_server = PrivateRedis()
    proxy = TcpProxy(int(connection.settings_dict["PORT"] or 5432))
    server = MockTwilio()
    worker = None
    try:
        twilio_account(acme, server.url)
        worker = start_worker(
            REDIS_URL=redis_server.url,
            CELERY_BROKER_URL=redis_server.url,
            DATABASE_URL=database_url_via(proxy.port),
            DATABASE_CONNECT_TIMEOUT=2,
        )
        before = queued_rows(acme, 3)
        publish(redis_server.url, before)
        assert wait_for(lambda: all_sent(before), timeout=60), worker.stderr.read1().decode()[-3000:]

        proxy.cut()
        during = [pk for pk in queued_rows(acme, 5) if pk not in before]
        publish(redis_server.url, during)  # the worker cannot claim them: the task fails, the rows stay queued
        time.sleep(4)
        assert Message.objects.filter(pk__in=during, status=Status.QUEUED).count() == len(during)
        proxy.restore()

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all_sent(during):
            assert worker.poll() is None, "the worker exited: " + worker.stderr.read().decode()[-3000:]
            publish(redis_server.url, during)  # what the sweeper does for rows left queued
            wait_for(lambda: all_sent(during), timeout=5)
        assert worker.poll() is None
        assert all_sent(during)
    finally:
        if worker is not None:
            stop(worker)
        server.close()
        proxy.close()
        redis_server.stop()
