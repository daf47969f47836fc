"""TLS through the upstream transport against a loopback server whose certificate a CA made
here signed: verified against that CA it connects (with SNI), against httpx's default trust
(certifi) or for another name it is refused, as httpx refuses it."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.raw_http import keep_answering, raw_server
from tests.functional.http_transport.conftest import Client

pytestmark = pytest.mark.anyio


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for ``localhost``, server key) files."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(key))
    return paths


@pytest.fixture
def server_tls(pki: tuple[Path, Path, Path]) -> tuple[ssl.SSLContext, list[str | None]]:
    """The server's context, and the names clients asked for (SNI)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki[1], pki[2])
    asked: list[str | None] = []

    def sni(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        asked.append(name)

    context.sni_callback = sni  # type: ignore[assignment]
    return context, asked


async def test_a_server_the_given_ca_signed_is_verified_with_sni(
    upstream: Client,
    pki: tuple[Path, Path, Path],
    server_tls: tuple[ssl.SSLContext, list[str | None]],
) -> None:
    context, asked = server_tls
    trusted = ssl.create_default_context(cafile=pki[0])
    async with (
        raw_server(keep_answering(), tls=context) as server,
        upstream(ssl_context=trusted) as client,
    ):
        for _ in range(2):
            response = await client.get(server.url(host="localhost"))
            assert (response.status_code, response.text) == (200, "hello")
    assert (server.connections, asked) == (1, ["localhost"])


async def test_a_certificate_httpx_would_not_trust_is_refused(
    upstream: Client, server_tls: tuple[ssl.SSLContext, list[str | None]]
) -> None:
    async with raw_server(keep_answering(), tls=server_tls[0]) as server, upstream() as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(server.url(host="localhost"))
    assert server.requests == []


async def test_a_certificate_for_another_name_is_refused(
    upstream: Client,
    pki: tuple[Path, Path, Path],
    server_tls: tuple[ssl.SSLContext, list[str | None]],
) -> None:
    trusted = ssl.create_default_context(cafile=pki[0])
    async with (
        raw_server(keep_answering(), tls=server_tls[0]) as server,
        upstream(ssl_context=trusted) as client,
    ):
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(server.url(host="127.0.0.1"))  # not a name the cert carries
