"""Where the hub is and how to reach it: URL and token resolution, TLS, channel settings.

Shared by :class:`agentry.Client` and :class:`agentry.AsyncClient`; pure except for reading
the environment and certificate files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import grpc

__all__ = [
    "DEFAULT_HUB",
    "MAX_MESSAGE_BYTES",
    "TLS",
    "ChannelSpec",
    "PemSource",
    "authorization_metadata",
    "channel_spec",
    "resolve_hub",
    "resolve_token",
]

#: Hub URL used when neither the ``hub`` argument nor ``AGENTRY_HUB`` is set.
DEFAULT_HUB = "http://127.0.0.1:7700"

#: Largest gRPC message sent or accepted, in bytes (8 MiB): the hub's limit.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

#: A PEM input: ``bytes`` are the PEM content; a ``str`` starting with ``-----BEGIN`` is too;
#: any other ``str`` or a path-like is a file to read.
PemSource = Union[bytes, str, "os.PathLike[str]"]


@dataclass(frozen=True)
class TLS:
    """TLS settings for an ``https://`` hub (ignored for ``http://``).

    Attributes:
        ca: CA certificate(s) to trust instead of grpcio's default roots (its bundled set, or
            the file named by ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``).
        cert: client certificate chain for mutual TLS; needs ``key``.
        key: the client certificate's private key; needs ``cert``.
        server_name: overrides the name checked against the hub's certificate (default: the
            URL's host).
    """

    ca: Optional[PemSource] = None
    cert: Optional[PemSource] = None
    key: Optional[PemSource] = None
    server_name: Optional[str] = None


@dataclass(frozen=True)
class ChannelSpec:
    """How to open the channel to a hub, as :func:`channel_spec` computed it.

    Attributes:
        url: the hub URL as resolved (for error messages).
        target: gRPC target ``host:port``.
        secure: whether the channel uses TLS.
        root_certificates, private_key, certificate_chain: PEM bytes for
            ``grpc.ssl_channel_credentials`` (None: grpcio's defaults / no client certificate).
        options: gRPC channel options (message size limits, reconnect backoff, TLS name override).
    """

    url: str
    target: str
    secure: bool
    root_certificates: Optional[bytes] = None
    private_key: Optional[bytes] = None
    certificate_chain: Optional[bytes] = None
    options: Tuple[Tuple[str, Union[str, int]], ...] = ()

    def credentials(self) -> grpc.ChannelCredentials:
        """Returns the channel credentials of a secure spec."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )


def resolve_hub(hub: Optional[str], environ: Optional[Mapping[str, str]] = None) -> str:
    """Returns the hub URL: ``hub``, else ``AGENTRY_HUB``, else :data:`DEFAULT_HUB` (empty
    values count as unset)."""
    env = os.environ if environ is None else environ
    return hub or env.get("AGENTRY_HUB") or DEFAULT_HUB


def resolve_token(token: Optional[str], environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Returns the bearer token: ``token``, else ``AGENTRY_TOKEN``, else None (no
    ``authorization`` header). Raises ValueError for a token that cannot be sent in a header
    (empty, or with spaces, control or non-ASCII characters); the message never shows it."""
    env = os.environ if environ is None else environ
    if token is None:
        token = env.get("AGENTRY_TOKEN") or None
        if token is not None:
            token = token.strip()
    if token is None:
        return None
    if not token:
        raise ValueError("invalid token: the token is empty")
    for index, char in enumerate(token):
        if not ("!" <= char <= "~"):
            raise ValueError(
                f"invalid token: character {index + 1} of the token is not visible ASCII (spaces, control and "
                "non-ASCII characters cannot be sent in the authorization header)"
            )
    return token


def resolve_tls(tls: Optional[TLS], environ: Optional[Mapping[str, str]] = None) -> Optional[TLS]:
    """Returns the TLS settings: ``tls``, else the files named by ``AGENTRY_CA``,
    ``AGENTRY_CLIENT_CERT`` and ``AGENTRY_CLIENT_KEY`` (the CLI's variables; empty values count
    as unset), else None (grpcio's default roots, no client certificate). Like ``tls``, they
    apply to ``https://`` hubs only."""
    if tls is not None:
        return tls
    env = os.environ if environ is None else environ
    ca, cert, key = (env.get(name) or None for name in ("AGENTRY_CA", "AGENTRY_CLIENT_CERT", "AGENTRY_CLIENT_KEY"))
    if ca is None and cert is None and key is None:
        return None
    return TLS(ca=ca, cert=cert, key=key)


@dataclass(frozen=True)
class Connection:
    """A client's settings after arguments, environment and defaults were applied.

    Attributes:
        hub: the hub URL.
        metadata: the call metadata carrying the token; None without one.
        spec: how to open the channel.
    """

    hub: str
    metadata: Optional[Tuple[Tuple[str, str], ...]]
    spec: ChannelSpec


def resolve(hub: Optional[str], token: Optional[str], tls: Optional[TLS]) -> Connection:
    """Resolves a client's arguments (:func:`resolve_hub`, :func:`resolve_token`,
    :func:`resolve_tls`) into its hub URL, call metadata and channel. Raises ValueError for a
    URL or token that cannot be used."""
    url = resolve_hub(hub)
    return Connection(url, authorization_metadata(resolve_token(token)), channel_spec(url, resolve_tls(tls)))


def authorization_metadata(token: Optional[str]) -> Optional[Tuple[Tuple[str, str], ...]]:
    """Returns the call metadata carrying ``token`` (``authorization: Bearer <token>``), sent
    with every call; None without a token."""
    if token is None:
        return None
    return (("authorization", f"Bearer {token}"),)


def channel_spec(url: str, tls: Optional[TLS] = None) -> ChannelSpec:
    """Returns how to reach the hub at ``url``: ``https://host[:port]`` is TLS (port 443 by
    default) with ``tls``'s CA and client certificate, ``http://host[:port]`` or a bare
    ``host:port`` is plaintext (port 80 by default; ``tls`` is ignored).

    Raises ValueError for a URL with another scheme, a path, or no host, for ``cert``
    without ``key`` (or the reverse), and OSError for a certificate file that cannot be read.
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"invalid hub URL {url!r}: the scheme must be http:// or https://")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"invalid hub URL {url!r}: a hub URL has no path, query or fragment")
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError(f"invalid hub URL {url!r}: {error}") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"invalid hub URL {url!r}: no host")
    secure = parts.scheme == "https"
    if port is None:
        port = 443 if secure else 80
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: List[Tuple[str, Union[str, int]]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # Reconnect to a restarted hub within seconds, not grpc's default of up to 2 minutes.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 4000),
    ]
    if not secure:
        return ChannelSpec(url=url, target=target, secure=False, options=tuple(options))
    tls = tls or TLS()
    if (tls.cert is None) != (tls.key is None):
        raise ValueError("TLS: a client certificate needs both cert and key")
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return ChannelSpec(
        url=url,
        target=target,
        secure=True,
        root_certificates=read_pem(tls.ca),
        private_key=read_pem(tls.key),
        certificate_chain=read_pem(tls.cert),
        options=tuple(options),
    )


def read_pem(source: Optional[PemSource]) -> Optional[bytes]:
    """Returns PEM bytes: ``bytes`` as is, a ``str`` starting with ``-----BEGIN`` encoded, any
    other ``str`` or path-like read as a file."""
    if source is None:
        return None
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode()
    return Path(source).read_bytes()
