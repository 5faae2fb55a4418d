"""Ed25519 keys and detached bundle signatures (`B.jbundle.sig` beside `B.jbundle`).

The signature is a separate file so the bundle bytes stay exactly what `jibril compile`
wrote (reproducible, same hash) and a registry that knows nothing about us stores both as
two layers. It signs a payload that names the bundle by SHA-256 (xxh3, the bundle's own
integrity hash, is not collision resistant) plus the metadata an agent gates on: format
version, minimum engine version and the source revision when known.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core.errors import Diagnostic, JibrilError, Span

KEY_SUFFIX = ".key"
PUB_SUFFIX = ".pub"
SIG_SUFFIX = ".sig"
SIG_FORMAT = "jibril-signature"
SIG_VERSION = 1
_DOMAIN = b"jibril-bundle-signature-v1\n"  # a signature over anything else never verifies here
CODE_SIG = "JR081"


def _err(path: str, why: str, hint: str) -> JibrilError:
    return JibrilError([Diagnostic(CODE_SIG, why, Span(path), hint)])


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class PublicKey:
    path: str
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def describe(self) -> str:
        return f"{self.path} (key id {self.key_id})"


@dataclass(frozen=True)
class Verified:
    """A bundle whose bytes a trusted key signed; `payload` is the signed metadata."""

    key: PublicKey
    payload: dict[str, Any]

    @property
    def sha256(self) -> str:
        return str(self.payload["sha256"])


def key_id(pub: Ed25519PublicKey) -> str:
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(prefix: str) -> tuple[str, str]:
    """Write PREFIX.key (mode 0600, PKCS#8 PEM) and PREFIX.pub; never overwrite a key."""
    key_path, pub_path = prefix + KEY_SUFFIX, prefix + PUB_SUFFIX
    for p in (key_path, pub_path):
        if os.path.exists(p):
            raise _err(p, "refusing to overwrite an existing key file",
                       "choose another --out PREFIX, or delete the old pair on purpose")
    priv = Ed25519PrivateKey.generate()
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        Path(pub_path).write_bytes(pub)
    except OSError as e:
        raise _err(e.filename or key_path, f"cannot write the key: {e.strerror}",
                   "check that the folder exists and is writable") from None
    return key_path, pub_path


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise _err(path, f"cannot read the {what}: {e.strerror}", "check the path") from None


def load_private(path: str) -> Ed25519PrivateKey:
    try:
        k = serialization.load_pem_private_key(_read(path, "private key"), password=None)
    except (ValueError, TypeError):
        raise _err(path, "not an unencrypted PEM private key",
                   "pass the PREFIX.key written by 'jibril keygen'") from None
    if not isinstance(k, Ed25519PrivateKey):
        raise _err(path, "the private key is not an Ed25519 key", "create one with 'jibril keygen'")
    return k


def load_public(path: str) -> PublicKey:
    try:
        k = serialization.load_pem_public_key(_read(path, "public key"))
    except (ValueError, TypeError):
        raise _err(path, "not a PEM public key",
                   "pass the PREFIX.pub written by 'jibril keygen' (not the .key)") from None
    if not isinstance(k, Ed25519PublicKey):
        raise _err(path, "the public key is not an Ed25519 key", "create one with 'jibril keygen'")
    return PublicKey(path, k)


def git_revision(path: str) -> str | None:
    """HEAD of the git checkout holding `path`, when there is one (for the signed metadata)."""
    d = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    try:
        r = subprocess.run(["git", "-C", d, "rev-parse", "HEAD"], capture_output=True,
                           text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    rev = r.stdout.strip()
    return rev if r.returncode == 0 and rev else None


def bundle_metadata(data: bytes, revision: str | None = None) -> dict[str, Any]:
    """What the signature covers: the exact bytes (SHA-256) and the fields an agent gates on."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        doc = {}
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "hash": doc.get("hash"), "format_version": doc.get("version"),
            "min_engine": doc.get("engine"), "source_revision": revision}


def sign_bytes(data: bytes, priv: Ed25519PrivateKey, revision: str | None = None) -> bytes:
    payload = bundle_metadata(data, revision)
    sig = priv.sign(_DOMAIN + _canonical(payload))
    return _canonical({"format": SIG_FORMAT, "version": SIG_VERSION,
                       "key_id": key_id(priv.public_key()), "payload": payload,
                       "signature": base64.b64encode(sig).decode()}) + b"\n"


def sig_path(bundle_path: str) -> str:
    return bundle_path + SIG_SUFFIX


def sign_file(bundle_path: str, key_path: str, revision: str | None = None) -> str:
    """Write BUNDLE.sig (atomically) and return its path."""
    data = _read(bundle_path, "bundle")
    out = sig_path(bundle_path)
    tmp = Path(out + ".tmp")
    tmp.write_bytes(sign_bytes(data, load_private(key_path), revision))
    tmp.replace(out)
    return out


def verify_bytes(data: bytes, sig: bytes | None, keys: list[PublicKey],
                 where: str = "<bundle>") -> Verified:
    """Raise a located JR081 error unless one of `keys` signed exactly these bytes."""
    expected = ", ".join(k.describe() for k in keys) or "(none)"
    if not keys:
        raise _err(where, "no trust key to verify the bundle with",
                   "pass --key PREFIX.pub or set bundles.trust in jibril.yaml")
    if sig is None:
        raise _err(where, f"bundle is unsigned; expected a signature by {expected}",
                   f"sign it with 'jibril sign {where} --key PREFIX.key' (writes {where}{SIG_SUFFIX})")
    try:
        doc = json.loads(sig)
        ok = isinstance(doc, dict) and doc.get("format") == SIG_FORMAT
        payload, kid = doc.get("payload"), str(doc.get("key_id"))
        raw = base64.b64decode(str(doc.get("signature")), validate=True)
    except (ValueError, UnicodeDecodeError, AttributeError):
        ok, payload, kid, raw = False, None, "", b""
    if not ok or not isinstance(payload, dict):
        raise _err(where + SIG_SUFFIX, "signature file is malformed (not a jibril signature)",
                   f"re-sign the bundle; expected a signature by {expected}")
    key = next((k for k in keys if k.key_id == kid), None)
    if key is None:
        raise _err(where, f"bundle is signed by an untrusted key (key id {kid}); expected {expected}",
                   "sign with the fleet key, or add its .pub to bundles.trust / --key")
    try:
        key.key.verify(raw, _DOMAIN + _canonical(payload))
    except InvalidSignature:
        raise _err(where + SIG_SUFFIX, f"signature does not verify with {key.describe()} "
                   "(the signature was changed or made by another key)",
                   "re-sign the bundle with the matching PREFIX.key") from None
    actual = hashlib.sha256(data).hexdigest()
    if payload.get("sha256") != actual:
        raise _err(where, f"bundle bytes do not match the signature by {key.describe()} "
                   f"(signed sha256 {str(payload.get('sha256'))[:16]}..., got {actual[:16]}...)",
                   "the bundle was changed after signing: pull or copy it again")
    return Verified(key, payload)


def verify_file(bundle_path: str, keys: list[PublicKey]) -> Verified:
    data = _read(bundle_path, "bundle")
    sp = sig_path(bundle_path)
    sig = Path(sp).read_bytes() if os.path.exists(sp) else None
    return verify_bytes(data, sig, keys, bundle_path)
