"""Both clients against a real hub with TLS and token authentication (`harness.SecureHub`:
`agentry hub serve` with `agentry certs dev`'s certificates, mutual TLS offered, an auth file
with an admin token and a viewer token of tenant `acme`, no nodes, so runs stay queued)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Optional, Tuple

import grpc
import pytest

import agentry
from agentry.errors import error_for
from agentry.follow import is_disconnect
from agentry.options import PemSource
from harness import SecureHub, dev_certs

MODEL = "openai:none"
# Seconds a refused connection may take: far below the 60 s a followed trace would spend
# retrying before it gives up.
PROMPTLY = 10.0
ADMIN = agentry.WhoAmI(actor="sdk-admin", role="admin", tenant="", method="token")
VIEWER = agentry.WhoAmI(actor="sdk-viewer", role="viewer", tenant="acme", method="token")


def with_ca(hub: SecureHub, cert: Optional[PemSource] = None, key: Optional[PemSource] = None) -> agentry.TLS:
    """TLS settings trusting the hub's CA (a file path), with an optional client certificate."""
    return agentry.TLS(ca=hub.ca, cert=cert, key=key)


def token_of(kind: str) -> Optional[str]:
    """``"none"``: no token; ``"unknown"``: a well-formed token the hub does not know."""
    return None if kind == "none" else secrets.token_urlsafe(32)


def refusal_of(kind: str) -> str:
    """What the hub says to a call with the token ``kind`` (see :func:`token_of`)."""
    return "this hub requires a token" if kind == "none" else "the bearer token is not one of the tokens"


# Check 1: an admin token, the CA from a file.


def test_an_admin_token_is_the_admin(secure_hub: SecureHub) -> None:
    with agentry.Client(secure_hub.url, secure_hub.admin_token, agentry.TLS(ca=secure_hub.ca)) as client:
        assert client.who_am_i() == ADMIN


@pytest.mark.asyncio
async def test_an_admin_token_is_the_admin_async(secure_hub: SecureHub) -> None:
    async with agentry.AsyncClient(secure_hub.url, secure_hub.admin_token, agentry.TLS(ca=str(secure_hub.ca))) as client:
        assert await client.who_am_i() == ADMIN


# Check 2: an admin spawns and reads over TLS (no node: the run stays queued).


def test_an_admin_spawns_lists_and_traces(secure_hub: SecureHub) -> None:
    with agentry.Client(secure_hub.url, secure_hub.admin_token, with_ca(secure_hub)) as client:
        spawned = client.spawn(model=MODEL, input="hi")
        assert spawned.agent_id and spawned.run_id
        assert spawned.agent_id in [agent.agent_id for agent in client.list_agents()]
        run = client.get_run(spawned.run_id)
        assert (run.run_id, run.agent_id, run.status, run.input) == (spawned.run_id, spawned.agent_id, "queued", "hi")
        events = list(client.trace(spawned.agent_id, follow=False))
        assert all(event.agent_id == spawned.agent_id for event in events)
        assert [event.seq for event in events] == sorted(event.seq for event in events)
        latest = client.get_agent(spawned.agent_id).latest_run
        assert latest is not None and latest.run_id == spawned.run_id


# Check 3: a viewer token reads (its tenant only) and may not spawn.


def test_a_viewer_may_not_spawn(secure_hub: SecureHub) -> None:
    with agentry.Client(secure_hub.url, secure_hub.admin_token, with_ca(secure_hub)) as admin:
        admins = admin.spawn(model=MODEL, input="hi")
    with agentry.Client(secure_hub.url, secure_hub.viewer_token, with_ca(secure_hub)) as viewer:
        assert viewer.who_am_i() == VIEWER
        with pytest.raises(agentry.PermissionDeniedError) as denied:
            viewer.spawn(model=MODEL, input="hi")
        # docs/security.md: a token with a tenant sees only that tenant's agents.
        assert admins.agent_id not in [agent.agent_id for agent in viewer.list_agents()]
    assert denied.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.code_name == "PERMISSION_DENIED"
    assert denied.value.details == "role viewer may not call Spawn"
    assert str(denied.value) == "PERMISSION_DENIED: role viewer may not call Spawn"


@pytest.mark.asyncio
async def test_a_viewer_may_not_spawn_async(secure_hub: SecureHub) -> None:
    async with agentry.AsyncClient(secure_hub.url, secure_hub.viewer_token, with_ca(secure_hub)) as viewer:
        assert await viewer.who_am_i() == VIEWER
        with pytest.raises(agentry.PermissionDeniedError) as denied:
            await viewer.spawn(model=MODEL, input="hi")
    assert denied.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.details == "role viewer may not call Spawn"


# Check 4: no token, or one the hub does not know, is unauthenticated (traces included).


@pytest.mark.parametrize("kind", ["none", "unknown"])
def test_without_a_known_token_calls_are_unauthenticated(secure_hub: SecureHub, kind: str) -> None:
    with agentry.Client(secure_hub.url, token_of(kind), with_ca(secure_hub)) as client:
        with pytest.raises(agentry.UnauthenticatedError) as refused:
            client.list_agents()
        started = time.monotonic()
        with pytest.raises(agentry.UnauthenticatedError):
            list(client.trace("any-agent"))
        assert time.monotonic() - started < PROMPTLY, "a refused trace was retried"
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details.startswith(refusal_of(kind))
    assert secure_hub.url in str(refused.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["none", "unknown"])
async def test_without_a_known_token_calls_are_unauthenticated_async(secure_hub: SecureHub, kind: str) -> None:
    async with agentry.AsyncClient(secure_hub.url, token_of(kind), with_ca(secure_hub)) as client:
        with pytest.raises(agentry.UnauthenticatedError) as refused:
            await client.list_agents()
        with pytest.raises(agentry.UnauthenticatedError):
            _ = [event async for event in client.trace("any-agent")]
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details.startswith(refusal_of(kind))


# Check 5: PEM in memory, and mutual TLS with the client certificate.


@pytest.mark.parametrize("form", ["text", "bytes"])
def test_a_ca_given_as_pem_in_memory(secure_hub: SecureHub, form: str) -> None:
    pem = secure_hub.ca.read_bytes()
    ca: PemSource = pem.decode() if form == "text" else pem
    with agentry.Client(secure_hub.url, secure_hub.admin_token, agentry.TLS(ca=ca)) as client:
        assert client.who_am_i() == ADMIN


@pytest.mark.parametrize("form", ["paths", "pem"])
def test_mutual_tls_with_the_client_certificate(secure_hub: SecureHub, form: str) -> None:
    if form == "paths":
        tls = with_ca(secure_hub, secure_hub.client_cert, secure_hub.client_key)
    else:
        ca, cert, key = (path.read_bytes() for path in (secure_hub.ca, secure_hub.client_cert, secure_hub.client_key))
        tls = agentry.TLS(ca=ca.decode(), cert=cert, key=key.decode())
    with agentry.Client(secure_hub.url, secure_hub.admin_token, tls) as client:
        assert client.who_am_i() == ADMIN


def test_a_client_certificate_of_another_ca_is_refused(
    secure_hub: SecureHub, binaries: Tuple[Path, Path], tmp_path: Path
) -> None:
    """The hub verifies the client certificates it is given: so the SDK does present one."""
    dev_certs(binaries[0], tmp_path, "stranger")
    tls = with_ca(secure_hub, tmp_path / "client-stranger.pem", tmp_path / "client-stranger-key.pem")
    started = time.monotonic()
    with agentry.Client(secure_hub.url, secure_hub.admin_token, tls) as client:
        with pytest.raises(agentry.TLSError) as refused:
            client.who_am_i()
    assert time.monotonic() - started < PROMPTLY
    assert refused.value.code is grpc.StatusCode.UNAVAILABLE
    assert "did it refuse this client's certificate?" in str(refused.value)


# Check 6: without the CA (grpcio's default roots) the handshake fails, at once, traces too.


def test_the_cli_variables_give_the_hub_the_token_and_the_tls_files(
    secure_hub: SecureHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTRY_HUB", secure_hub.url)
    monkeypatch.setenv("AGENTRY_TOKEN", secure_hub.admin_token)
    monkeypatch.setenv("AGENTRY_CA", str(secure_hub.ca))
    monkeypatch.setenv("AGENTRY_CLIENT_CERT", str(secure_hub.client_cert))
    monkeypatch.setenv("AGENTRY_CLIENT_KEY", str(secure_hub.client_key))
    with agentry.Client() as client:
        assert client.who_am_i() == ADMIN


def test_without_the_ca_the_handshake_fails_promptly(secure_hub: SecureHub) -> None:
    started = time.monotonic()
    with agentry.Client(secure_hub.url, secure_hub.admin_token) as client:
        with pytest.raises(agentry.TLSError) as failed:
            client.who_am_i()
        # A followed trace does not retry it for the 60 s give-up window.
        with pytest.raises(agentry.TLSError):
            list(client.trace("any-agent", reconnect=agentry.ReconnectPolicy()))
    assert time.monotonic() - started < PROMPTLY
    error = failed.value
    assert isinstance(error, agentry.UnavailableError) and error.code is grpc.StatusCode.UNAVAILABLE
    assert str(error).startswith("UNAVAILABLE: TLS with the hub failed: the hub's certificate failed verification")
    assert "CERTIFICATE_VERIFY_FAILED" in error.details and secure_hub.url in str(error)


@pytest.mark.asyncio
async def test_without_the_ca_the_handshake_fails_promptly_async(secure_hub: SecureHub) -> None:
    started = time.monotonic()
    async with agentry.AsyncClient(secure_hub.url, secure_hub.admin_token) as client:
        with pytest.raises(agentry.TLSError) as failed:
            await client.who_am_i()
        with pytest.raises(agentry.TLSError):
            _ = [event async for event in client.trace("any-agent", reconnect=agentry.ReconnectPolicy())]
    assert time.monotonic() - started < PROMPTLY
    assert "certificate" in str(failed.value)


def test_a_server_name_the_certificate_does_not_list_fails(secure_hub: SecureHub) -> None:
    tls = agentry.TLS(ca=secure_hub.ca, server_name="not-the-hub.example")
    with agentry.Client(secure_hub.url, secure_hub.admin_token, tls) as client:
        with pytest.raises(agentry.TLSError) as failed:
            client.who_am_i()
    assert "does not name the host" in str(failed.value)


# Check 7: a plaintext client of the TLS hub fails promptly, with a hint.


@pytest.mark.parametrize("form", ["http://", "bare host:port"])
def test_plaintext_against_the_tls_hub_fails_promptly(secure_hub: SecureHub, form: str) -> None:
    address = secure_hub.url.removeprefix("https://")
    started = time.monotonic()
    with agentry.Client(f"http://{address}" if form == "http://" else address, secure_hub.admin_token) as client:
        with pytest.raises(agentry.UnavailableError) as failed:
            client.who_am_i()
    assert time.monotonic() - started < PROMPTLY
    assert failed.value.code is grpc.StatusCode.UNAVAILABLE
    assert "if the hub serves TLS, use an https:// URL" in str(failed.value)


# How grpc's words about a failed connection are classified (grpcio 1.80's details).

UNTRUSTED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Tls handshake failed "
    "(TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED"
)
PLAINTEXT_HUB = "... Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: ...:WRONG_VERSION_NUMBER: ..."
CLOSED = "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:1: Socket closed"


def test_tls_failures_are_tls_errors_and_not_disconnects() -> None:
    untrusted = error_for(grpc.StatusCode.UNAVAILABLE, UNTRUSTED, "https://hub:7700")
    assert type(untrusted) is agentry.TLSError and not is_disconnect(untrusted)
    assert untrusted.details.endswith(f"({UNTRUSTED})")
    plaintext_hub = error_for(grpc.StatusCode.UNAVAILABLE, PLAINTEXT_HUB, "https://hub:7700")
    assert "probably serves plaintext: use an http:// URL" in str(plaintext_hub)
    # The same words under another code are the hub's, not a handshake failure.
    assert type(error_for(grpc.StatusCode.INTERNAL, UNTRUSTED)) is agentry.AgentryError


def test_a_closed_plaintext_connection_is_still_a_disconnect() -> None:
    closed = error_for(grpc.StatusCode.UNAVAILABLE, CLOSED, "http://hub:7700")
    assert type(closed) is agentry.UnavailableError and is_disconnect(closed)
    assert closed.details == CLOSED + "; if the hub serves TLS, use an https:// URL"
    # Over TLS, or mid-stream, the same words get no hint.
    assert error_for(grpc.StatusCode.UNAVAILABLE, CLOSED, "https://hub:7700").details == CLOSED
    assert error_for(grpc.StatusCode.UNAVAILABLE, "Socket closed", "http://hub:7700").details == "Socket closed"
