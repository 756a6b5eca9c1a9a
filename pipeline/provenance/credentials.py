"""The signing credential: a PEM certificate chain and either a PEM key or a signer hook.

``load_credential(settings)`` reads ``SIGNING_CERT_PATH`` and ``SIGNING_KEY_PATH`` or
``SIGNING_HOOK`` (``module:function``, a callable ``(bytes) -> bytes`` returning the
signature in the form C2PA wants: for ES* the raw ``r || s``, IEEE P1363, RFC 9053 §2.1; so
a KMS or HSM keeps the key) and proves at start-up that they fit: it signs a probe and checks
the signature with the leaf certificate's public key. Every problem is one ``ConfigError``
line, raised before any work is taken.

``ensure_development_credential(state_dir)`` makes the embedded stack's development CA and
leaf (ES256 on P-256, C2PA 2.1 "Certificate profile": the leaf is no CA, has
digitalSignature and the emailProtection EKU) under ``state_dir/signing/`` once; their
subjects' organisation is ``DEVELOPMENT_ORGANIZATION``, which is how a credential is known
to be the development one.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipeline.config import Settings
from pipeline.domain.errors import ConfigError

Algorithm = Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"]
SignFn = Callable[[bytes], bytes]

DEVELOPMENT_ORGANIZATION = "wan-pipeline development"
"""The organisation of the development CA's and leaf's subjects."""
DEVELOPMENT_DIR = "signing"
"""The development credential's folder under ``PIPELINE_STATE_DIR``."""
_PROBE = b"wan-pipeline signing probe"
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
_CURVES = {"es256": ec.SECP256R1, "es384": ec.SECP384R1, "es512": ec.SECP521R1}


@dataclass(frozen=True)
class SigningCredential:
    """What signs: the chain (leaf first, PEM), the algorithm and the signing function."""

    chain_pem: str
    algorithm: Algorithm
    sign: SignFn
    subject: str
    development: bool
    tsa_url: str | None = None


@dataclass(frozen=True)
class DevelopmentCredential:
    """The embedded stack's files: the CA (the trust anchor), the chain and the leaf's key."""

    ca_path: Path
    cert_path: Path
    key_path: Path


def _hash(algorithm: Algorithm) -> hashes.HashAlgorithm:
    return _HASHES[algorithm[-3:]]


def key_signer(key: object, algorithm: Algorithm) -> SignFn:
    """A signing function over a private key, producing C2PA's signature encoding."""
    if algorithm.startswith("es"):
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, _CURVES[algorithm]
        ):
            raise ConfigError(
                f"SIGNING_KEY_PATH: {algorithm} needs a {_CURVES[algorithm].name} key"
            )
        ec_key, size = key, (key.curve.key_size + 7) // 8

        def sign_ec(data: bytes) -> bytes:
            r, s = decode_dss_signature(ec_key.sign(data, ec.ECDSA(_hash(algorithm))))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    if algorithm.startswith("ps"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"SIGNING_KEY_PATH: {algorithm} needs an RSA key")
        rsa_key = key
        pss = padding.PSS(
            mgf=padding.MGF1(_hash(algorithm)), salt_length=_hash(algorithm).digest_size
        )
        return lambda data: rsa_key.sign(data, pss, _hash(algorithm))
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError("SIGNING_KEY_PATH: ed25519 needs an Ed25519 key")
    return key.sign


def _verify(cert: x509.Certificate, algorithm: Algorithm, signature: bytes) -> None:
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        half = len(signature) // 2
        der = encode_dss_signature(
            int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        )
        public.verify(der, _PROBE, ec.ECDSA(_hash(algorithm)))
    elif isinstance(public, rsa.RSAPublicKey):
        digest = _hash(algorithm)
        public.verify(
            signature,
            _PROBE,
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size),
            digest,
        )
    elif isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(signature, _PROBE)
    else:
        raise ConfigError("SIGNING_CERT_PATH: the leaf's key type is not one C2PA signs with")


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None


def _hook(spec: str) -> SignFn:
    module_name, _, name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"SIGNING_HOOK: cannot load {spec}: {exc}") from None
    if not callable(function):
        raise ConfigError(f"SIGNING_HOOK: {spec} is not callable")
    return function  # type: ignore[no-any-return]


def subject_of(cert: x509.Certificate) -> str:
    """The subject as RFC 4514 text, e.g. ``CN=signer,O=wan-pipeline development``."""
    return cert.subject.rfc4514_string()


def is_development(cert: x509.Certificate) -> bool:
    organizations = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return any(o.value == DEVELOPMENT_ORGANIZATION for o in organizations)


def load_credential(settings: Settings) -> SigningCredential | None:
    """The configured credential, proven to sign; None when ``SIGNING=off``.

    Raises ``ConfigError`` (one line) when no credential is configured, a file cannot be
    read or parsed, the hook cannot be loaded or fails, or the key does not match the leaf.
    """
    if settings.signing == "off":
        return None
    if settings.signing_cert_path is None:
        raise ConfigError(
            "SIGNING_CERT_PATH: outputs are signed (C2PA) and no credential is configured; "
            "set SIGNING_CERT_PATH with SIGNING_KEY_PATH or SIGNING_HOOK, or SIGNING=off"
        )
    chain_pem = _read(settings.signing_cert_path, "SIGNING_CERT_PATH")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ConfigError(
            f"SIGNING_CERT_PATH: {settings.signing_cert_path} holds no PEM certificate"
        ) from None
    algorithm = settings.signing_algorithm
    if settings.signing_hook is not None:
        sign = _hook(settings.signing_hook)
        source = f"SIGNING_HOOK {settings.signing_hook}"
    else:
        assert settings.signing_key_path is not None  # Settings require one of the two
        pem = _read(settings.signing_key_path, "SIGNING_KEY_PATH")
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(
                f"SIGNING_KEY_PATH: {settings.signing_key_path} holds no unencrypted PEM "
                "private key"
            ) from None
        sign = key_signer(key, algorithm)
        source = "SIGNING_KEY_PATH"
    try:
        _verify(chain[0], algorithm, sign(_PROBE))
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise ConfigError(
            f"{source} does not sign for the leaf certificate of SIGNING_CERT_PATH "
            f"({subject_of(chain[0])}) with {algorithm}{f': {exc}' if str(exc) else ''}"
        ) from None
    except ConfigError:
        raise
    except Exception as exc:  # a hook's own failure, whatever it is
        raise ConfigError(f"{source} failed to sign a probe: {exc}") from None
    return SigningCredential(
        chain_pem=chain_pem.decode(),
        algorithm=algorithm,
        sign=sign,
        subject=subject_of(chain[0]),
        development=is_development(chain[0]),
        tsa_url=str(settings.signing_tsa_url) if settings.signing_tsa_url else None,
    )


def development_paths(state_dir: Path) -> DevelopmentCredential:
    folder = state_dir / DEVELOPMENT_DIR
    return DevelopmentCredential(folder / "ca.pem", folder / "chain.pem", folder / "key.pem")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEVELOPMENT_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign,
        crl_sign=not sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def ensure_development_credential(
    state_dir: Path, now: dt.datetime | None = None
) -> DevelopmentCredential:
    """The development CA and leaf under ``state_dir/signing/``, made when absent or when
    the leaf expires within a day. The key file is 0600."""
    paths = development_paths(state_dir)
    now = now or dt.datetime.now(dt.UTC)
    if paths.cert_path.is_file() and paths.key_path.is_file() and paths.ca_path.is_file():
        leaf = x509.load_pem_x509_certificates(paths.cert_path.read_bytes())[0]
        if leaf.not_valid_after_utc > now + dt.timedelta(days=1):
            return paths
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    start = now - dt.timedelta(hours=1)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("wan-pipeline development CA"))
        .issuer_name(_name("wan-pipeline development CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=False), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("wan-pipeline development signer"))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths.cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(paths.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    paths.cert_path.write_bytes(_pem(leaf) + _pem(ca))
    paths.ca_path.write_bytes(_pem(ca))
    return paths
