"""Checks every adapter's tests share: transport errors, and callbacks that carry a `?t=` token.

The tests stay in each provider's module under that provider's names; the
bodies that are the same for every provider live here.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import requests
from django.test import override_settings
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from providers.base import AccountConfig, OutboundMessage, ProviderAdapter, ProviderError, WebhookRequest


def closed_port_url(path: str = "") -> str:
    """Return a local URL that nothing listens on: a real refused connection, no mock in between."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class TransportErrorChecks:
    """Sends that never got an answer are retryable, with our own code (providers/base.py `request`).

    Mix into a provider's send-error SimpleTestCase that defines `send_error(**mock)`:
    answer the send request with `mock` (the keywords of `responses`), send, and
    return the ProviderError raised.
    """

    send_error: Callable[..., ProviderError]

    def check_it_retries_on_503(self) -> None:
        error = self.send_error(body="<html>Service Unavailable</html>", status=503)

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "503")
        self.assertEqual(error.http_status, 503)

    def check_it_retries_on_a_timeout(self) -> None:
        """A read timeout: the request went out, so the outcome is unknown (never resent blindly)."""
        error = self.send_error(body=requests.exceptions.ReadTimeout("read timed out"))

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "read_timeout")
        self.assertTrue(error.outcome_unknown)

    def check_it_retries_on_a_refused_connection(self) -> None:
        """Refused before anything was written: a plain retry, as urllib3 reports it."""
        refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
        error = self.send_error(body=requests.exceptions.ConnectionError(MaxRetryError(None, "/", refused)))

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "connection_error")
        self.assertFalse(error.outcome_unknown)

    def check_a_connection_broken_mid_exchange_is_unknown(self) -> None:
        broken = ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
        error = self.send_error(body=requests.exceptions.ConnectionError(broken))

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "connection_lost")
        self.assertTrue(error.outcome_unknown)

    def check_a_closed_port_is_retried(
        self, adapter: ProviderAdapter, account: AccountConfig, message: OutboundMessage
    ) -> None:
        """Send to an account whose base URL is `closed_port_url()`; call it with no HTTP mock active."""
        with override_settings(OUTBOUND_ALLOW_PRIVATE=True), self.assertRaises(ProviderError) as caught:
            adapter.send(account, message)

        self.assertFalse(caught.exception.permanent)
        self.assertEqual(caught.exception.code, "connection_error")


class UrlTokenVerifyTests:
    """`verify` for providers that sign nothing, so the callback URL carries the account's token as `?t=`.

    Mix into a SimpleTestCase whose setUp sets `adapter`, `account` (its
    webhook secret is `token`) and `body`, with class attributes `callback_url`
    (the URL with `?t=<token>`), `token` and `webhook`, a
    staticmethod(body, url=..., query=...) -> WebhookRequest whose query
    defaults to `{"t": token}`.
    """

    callback_url: str
    token: str
    webhook: Callable[..., WebhookRequest]

    def test_the_right_token_is_accepted(self):
        self.assertTrue(self.adapter.verify(self.webhook(self.body), self.account))

    def test_the_token_is_read_from_the_url_when_query_is_not_given(self):
        self.assertTrue(self.adapter.verify(self.webhook(self.body, query={}), self.account))

    def test_a_wrong_token_is_rejected(self):
        request = self.webhook(self.body, url=self.callback_url.replace(self.token, "wrong"), query={"t": "wrong"})

        self.assertFalse(self.adapter.verify(request, self.account))

    def test_a_missing_token_is_rejected(self):
        request = self.webhook(self.body, url=self.callback_url.partition("?")[0], query={})

        self.assertFalse(self.adapter.verify(request, self.account))
