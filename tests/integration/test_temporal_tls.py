"""mTLS to Temporal through a TOML profile, as Temporal Cloud's certificate auth works.

The dev server speaks plain gRPC only, so a TLS terminator in front of it (this test's own
CA, server and client certificates; client certificates required, ALPN ``h2``) plays the
cloud endpoint: a connection gets through only with the profile's CA, certificate and key.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from pipeline.config import load_settings
from pipeline.temporal_client import connect, connect_config
from tests.conftest import TemporalServer

pytestmark = pytest.mark.integration


@dataclass
class Pki:
    folder: Path
    ca_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        self.ca = self._sign("pipeline-test-ca", self.ca_key, ca=True)
        self.write("ca.pem", self.ca, None)

    def _sign(
        self,
        name: str,
        key: ec.EllipticCurvePrivateKey,
        *,
        ca: bool = False,
        san: list[x509.GeneralName] | None = None,
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pipeline-test-ca")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def write(
        self, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None
    ) -> Path:
        (self.folder / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            (self.folder / f"{name}.key").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return self.folder / name

    def issue(self, name: str, *, server: bool = False) -> Path:
        key = ec.generate_private_key(ec.SECP256R1())
        san: list[x509.GeneralName] | None = None
        if server:
            san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        return self.write(f"{name}.pem", self._sign(name, key, san=san), key)


@contextlib.asynccontextmanager
async def tls_terminator(pki: Pki, upstream: str, peers: list[str]) -> AsyncIterator[int]:
    """Accept mTLS (ALPN h2) and pipe the bytes to ``upstream``; yields the port."""
    server_cert = pki.issue("server", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.folder / "ca.pem")
    context.load_cert_chain(server_cert, server_cert.with_suffix(".pem.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        subject = dict(item[0] for item in client_w.get_extra_info("peercert")["subject"])
        peers.append(subject["commonName"])
        server_r, server_w = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_an_mtls_profile_connects_with_its_certificate_and_a_bare_one_does_not(
    temporal_server: TemporalServer, tmp_path: Path
) -> None:
    pki = Pki(tmp_path)
    client_cert = pki.issue("gpu-worker-7")
    peers: list[str] = []
    async with tls_terminator(pki, temporal_server.address, peers) as port:
        profile = tmp_path / "temporal.toml"
        profile.write_text(
            f"""
[profile.studio]
address = "127.0.0.1:{port}"
namespace = "default"
[profile.studio.tls]
server_name = "localhost"
server_ca_cert_path = "{tmp_path / "ca.pem"}"
client_cert_path = "{client_cert}"
client_key_path = "{client_cert.with_suffix(".pem.key")}"

[profile.no-client-cert]
address = "127.0.0.1:{port}"
[profile.no-client-cert.tls]
server_name = "localhost"
server_ca_cert_path = "{tmp_path / "ca.pem"}"
"""
        )
        studio = load_settings(TEMPORAL_CONFIG_FILE=str(profile), TEMPORAL_PROFILE="studio")
        client = await connect(studio)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        bare = load_settings(TEMPORAL_CONFIG_FILE=str(profile), TEMPORAL_PROFILE="no-client-cert")
        with pytest.raises(RuntimeError):
            await Client.connect(
                **connect_config(bare), connect_timeout=datetime.timedelta(seconds=3)
            )

    assert described.namespace_info.name == "default"
    assert "gpu-worker-7" in peers
