"""Hub and token resolution, and how the channel and call metadata are built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List
from unittest import mock

import grpc
import grpc.aio
import pytest

import agentry
from agentry.options import (
    DEFAULT_HUB,
    MAX_MESSAGE_BYTES,
    TLS,
    authorization_metadata,
    channel_spec,
    resolve_hub,
    resolve_tls,
    resolve_token,
)

CA = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CERT = "-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"


def test_the_hub_is_the_argument_else_agentry_hub_else_the_default() -> None:
    assert resolve_hub("http://a:1", {"AGENTRY_HUB": "http://b:2"}) == "http://a:1"
    assert resolve_hub(None, {"AGENTRY_HUB": "http://b:2"}) == "http://b:2"
    assert resolve_hub(None, {"AGENTRY_HUB": ""}) == DEFAULT_HUB == "http://127.0.0.1:7700"
    assert resolve_hub(None, {}) == DEFAULT_HUB


def test_the_client_reads_agentry_hub_and_agentry_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTRY_HUB", "http://10.0.0.1:7701")
    monkeypatch.setenv("AGENTRY_TOKEN", "from-env")
    with agentry.Client() as client:
        assert client.hub == "http://10.0.0.1:7701"
        assert client.metadata == (("authorization", "Bearer from-env"),)
    with agentry.Client("http://127.0.0.1:9", token="explicit") as client:
        assert client.hub == "http://127.0.0.1:9"
        assert client.metadata == (("authorization", "Bearer explicit"),)
        assert "explicit" not in repr(client)


def test_tls_is_the_argument_else_the_cli_variables_else_none() -> None:
    env = {"AGENTRY_CA": "/ca.pem", "AGENTRY_CLIENT_CERT": "/c.pem", "AGENTRY_CLIENT_KEY": "/k.pem"}
    explicit = TLS(ca=CA)
    assert resolve_tls(explicit, env) is explicit
    assert resolve_tls(None, env) == TLS(ca="/ca.pem", cert="/c.pem", key="/k.pem")
    assert resolve_tls(None, {"AGENTRY_CA": "/ca.pem", "AGENTRY_CLIENT_CERT": ""}) == TLS(ca="/ca.pem")
    assert resolve_tls(None, {"AGENTRY_CA": ""}) is None
    assert resolve_tls(None, {}) is None


def test_without_a_token_no_authorization_is_sent() -> None:
    assert resolve_token(None, {}) is None
    assert resolve_token(None, {"AGENTRY_TOKEN": ""}) is None
    assert authorization_metadata(None) is None
    with agentry.Client("http://127.0.0.1:9") as client:
        assert client.metadata is None


def test_the_token_travels_as_a_bearer_header() -> None:
    assert resolve_token("s3cr3t", {"AGENTRY_TOKEN": "other"}) == "s3cr3t"
    assert resolve_token(None, {"AGENTRY_TOKEN": "env-token\n"}) == "env-token"
    assert authorization_metadata("s3cr3t") == (("authorization", "Bearer s3cr3t"),)


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "caf\u00e9"])
def test_a_token_that_cannot_be_sent_is_refused_without_showing_it(token: str) -> None:
    with pytest.raises(ValueError) as refused:
        resolve_token(token, {})
    assert "invalid token" in str(refused.value)
    if token:
        assert token not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "target", "secure"),
    [
        ("http://127.0.0.1:7700", "127.0.0.1:7700", False),
        ("http://127.0.0.1:7700/", "127.0.0.1:7700", False),
        ("127.0.0.1:7700", "127.0.0.1:7700", False),
        ("http://hub.example", "hub.example:80", False),
        ("https://hub.example", "hub.example:443", True),
        ("https://hub.example:8443", "hub.example:8443", True),
        ("http://[::1]:7700", "[::1]:7700", False),
    ],
)
def test_the_url_gives_the_target_and_whether_tls_is_used(url: str, target: str, secure: bool) -> None:
    spec = channel_spec(url)
    assert (spec.target, spec.secure, spec.url) == (target, secure, url)
    options = dict(spec.options)
    assert options["grpc.max_send_message_length"] == MAX_MESSAGE_BYTES == 8 * 1024 * 1024
    assert options["grpc.max_receive_message_length"] == MAX_MESSAGE_BYTES
    assert options["grpc.max_reconnect_backoff_ms"] == 4000


@pytest.mark.parametrize("url", ["ftp://hub:1", "http://hub:1/v1", "http://:7700", "http://hub:notaport"])
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="invalid hub URL"):
        channel_spec(url)


def test_https_without_tls_options_uses_the_default_roots() -> None:
    spec = channel_spec("https://hub.example:7700")
    assert (spec.root_certificates, spec.certificate_chain, spec.private_key) == (None, None, None)
    assert isinstance(spec.credentials(), grpc.ChannelCredentials)


def test_tls_material_is_read_from_bytes_pem_text_or_files(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(CA)
    key_file = tmp_path / "client.key"
    key_file.write_bytes(KEY)
    tls = TLS(ca=ca_file, cert=CERT, key=str(key_file), server_name="hub.internal")
    spec = channel_spec("https://10.0.0.5:7700", tls)
    assert spec.secure
    assert spec.root_certificates == CA
    assert spec.certificate_chain == CERT.encode()
    assert spec.private_key == KEY
    assert dict(spec.options)["grpc.ssl_target_name_override"] == "hub.internal"
    assert channel_spec("https://h", TLS(ca=CA)).root_certificates == CA


def test_tls_settings_are_ignored_for_plaintext_urls() -> None:
    spec = channel_spec("http://hub:7700", TLS(ca=CA))
    assert not spec.secure and spec.root_certificates is None


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="cert and key"):
        channel_spec("https://hub", TLS(cert=CERT))
    with pytest.raises(ValueError, match="cert and key"):
        channel_spec("https://hub", TLS(key=KEY))


def test_a_missing_certificate_file_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        agentry.Client("https://hub:7700", tls=TLS(ca=tmp_path / "missing.pem"))


def capture(calls: List[Dict[str, Any]], kind: str) -> Any:
    def open_channel(target: str, *args: Any, **kwargs: Any) -> Any:
        calls.append({"kind": kind, "target": target, "args": args, "options": dict(kwargs["options"])})
        return mock.MagicMock()

    return open_channel


def test_clients_open_a_secure_channel_for_https(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: List[Dict[str, Any]] = []
    credentials: List[Dict[str, Any]] = []

    def ssl_channel_credentials(**kwargs: Any) -> str:
        credentials.append(kwargs)
        return "credentials"

    monkeypatch.setattr(grpc, "ssl_channel_credentials", ssl_channel_credentials)
    monkeypatch.setattr(grpc, "secure_channel", capture(calls, "sync"))
    monkeypatch.setattr(grpc.aio, "secure_channel", capture(calls, "aio"))
    tls = TLS(ca=CA, cert=CERT, key=KEY)
    agentry.Client("https://hub.example:7700", token="t0k", tls=tls)
    agentry.AsyncClient("https://hub.example:7700", token="t0k", tls=tls)
    assert [(call["kind"], call["target"], call["args"]) for call in calls] == [
        ("sync", "hub.example:7700", ("credentials",)),
        ("aio", "hub.example:7700", ("credentials",)),
    ]
    expected = {"root_certificates": CA, "certificate_chain": CERT.encode(), "private_key": KEY}
    assert credentials == [expected, expected]
    assert all(call["options"]["grpc.max_receive_message_length"] == MAX_MESSAGE_BYTES for call in calls)


def test_clients_open_a_plaintext_channel_for_http(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: List[Dict[str, Any]] = []
    monkeypatch.setattr(grpc, "insecure_channel", capture(calls, "sync"))
    monkeypatch.setattr(grpc.aio, "insecure_channel", capture(calls, "aio"))
    monkeypatch.setattr(grpc, "secure_channel", mock.Mock(side_effect=AssertionError("no TLS for http://")))
    agentry.Client("http://127.0.0.1:7700", tls=TLS(ca=CA))
    agentry.AsyncClient("http://127.0.0.1:7700")
    assert [(call["kind"], call["target"], call["args"]) for call in calls] == [
        ("sync", "127.0.0.1:7700", ()),
        ("aio", "127.0.0.1:7700", ()),
    ]
