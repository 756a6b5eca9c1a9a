"""The embedded stack's signing credential: the configured one, passed to the workers, or
(none configured) the development CA and leaf made under the state dir at first
``pipeline up`` (``pipeline.provenance.credentials.ensure_development_credential``), trusted
by ``pipeline verify`` with these settings and nowhere else."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.provenance.credentials import ensure_development_credential


def signing_env(settings: Settings) -> dict[str, str]:
    """The ``SIGNING*`` variables of the settings, for a child process."""
    values = {
        "SIGNING_CERT_PATH": settings.signing_cert_path,
        "SIGNING_KEY_PATH": settings.signing_key_path,
        "SIGNING_HOOK": settings.signing_hook,
        "SIGNING_TSA_URL": settings.signing_tsa_url,
        "SIGNING_TRUST_ANCHORS_PATH": settings.signing_trust_anchors_path,
    }
    env = {name: str(value) for name, value in values.items() if value is not None}
    return env | {"SIGNING": settings.signing, "SIGNING_ALGORITHM": settings.signing_algorithm}


def with_development_credential(settings: Settings) -> Settings:
    """The settings, signing with the development credential (made under
    ``PIPELINE_STATE_DIR/signing/`` if absent) and trusting its CA, when signing is on and
    no credential is configured; else as they are."""
    if settings.signing == "off" or settings.signing_cert_path is not None:
        return settings
    made = ensure_development_credential(settings.state_dir)
    update = {
        "signing_cert_path": made.cert_path.absolute(),
        "signing_key_path": made.key_path.absolute(),
        "signing_algorithm": "es256",
    }
    if settings.signing_trust_anchors_path is None:
        update["signing_trust_anchors_path"] = made.ca_path.absolute()
    return settings.model_copy(update=update)
