import pytest

from providers.models import Channel, Provider, ProviderAccount


def make_account(organization, provider=Provider.SANDBOX, channel=Channel.SMS, **fields) -> ProviderAccount:
    account = ProviderAccount(organization=organization, provider=provider, channel=channel,
                              label=fields.pop("label", f"{provider} {channel}"), **fields)
    account.set_credentials(fields.pop("credentials", {}) if "credentials" in fields else {})
    account.save()
    return account


@pytest.fixture
def sandbox(acme) -> ProviderAccount:
    return make_account(acme, default_sender="Acme", messages_per_second=0)


@pytest.fixture
def globex_sandbox(globex) -> ProviderAccount:
    return make_account(globex, messages_per_second=0)
