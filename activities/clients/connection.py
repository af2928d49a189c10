"""Connecting to Temporal, always with the one data converter (`DATA_CONVERTER`).

Plain TCP to a dev server or a cluster inside the network; TLS when ORDERHUB_TEMPORAL_TLS is set, with
a client certificate and key (mTLS: Temporal Cloud, or a self-hosted cluster that asks for one), a
server CA of one's own, or an API key (Temporal Cloud; sent as a bearer token, always over TLS).
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from models.config import Settings

# Every client, worker, test environment and replayer encodes payloads with this one converter: a
# history written with one converter does not decode with another.
DATA_CONVERTER = pydantic_data_converter


def _given(path: Path | None) -> Path | None:
    """An empty variable (VAR=) reads as Path("."): not given."""
    return None if path is None or str(path) in ("", ".") else path


def _read(path: Path | None, variable: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"{variable}: cannot read {path}: {err.strerror}") from None


def tls_for(settings: Settings) -> TLSConfig | bool:
    """What `Client.connect(tls=...)` gets: False, True (system CAs) or the certificates. A certificate,
    a CA or an API key turns TLS on even without ORDERHUB_TEMPORAL_TLS."""
    cert, key = _given(settings.temporal_tls_cert), _given(settings.temporal_tls_key)
    ca = _given(settings.temporal_tls_ca)
    if (cert is None) != (key is None):
        raise ValueError("ORDERHUB_TEMPORAL_TLS_CERT and ORDERHUB_TEMPORAL_TLS_KEY go together (mTLS)")
    if cert is not None or ca is not None:
        return TLSConfig(
            client_cert=_read(cert, "ORDERHUB_TEMPORAL_TLS_CERT"),
            client_private_key=_read(key, "ORDERHUB_TEMPORAL_TLS_KEY"),
            server_root_ca_cert=_read(ca, "ORDERHUB_TEMPORAL_TLS_CA"),
        )
    return settings.temporal_tls or bool(settings.temporal_api_key)


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        tls=tls_for(settings),
        api_key=settings.temporal_api_key or None,
        lazy=lazy,
    )
