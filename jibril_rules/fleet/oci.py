"""A bundle as an OCI artifact: push, resolve a reference to its digest, fetch, re-tag (oras).

Manifest: config = the signed metadata (our media type), layer 1 = the bundle bytes, layer 2 =
the detached signature, so any OCI registry stores both. The manifest carries no timestamp:
pushing the same signed bundle twice yields the same digest. Every request is bounded in
time and never retried here (oras' own retry sleeps up to minutes): callers decide.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import oras.container
import oras.defaults
import oras.provider
import requests

from ..core.errors import Diagnostic, JibrilError, Span

MEDIA_BUNDLE = "application/vnd.jibril.bundle.v1+json"
MEDIA_SIGNATURE = "application/vnd.jibril.bundle.signature.v1+json"
MEDIA_CONFIG = "application/vnd.jibril.bundle.config.v1+json"
ARTIFACT_TYPE = "application/vnd.jibril.bundle.v1"
MANIFEST_TYPE = oras.defaults.default_manifest_media_type  # application/vnd.oci.image.manifest.v1+json
MAX_BLOB = 64 << 20  # a bundle of 10,000 recipes is a few MB; refuse anything absurd
TIMEOUT_S = 10.0
CODE_REGISTRY = "JR083"


class RegistryError(JibrilError):
    """The registry could not be reached, or answered something we refuse."""

    def __init__(self, ref: str, why: str, hint: str = "check the reference and the registry") -> None:
        super().__init__([Diagnostic(CODE_REGISTRY, why, Span(ref), hint)])


class BadArtifact(JibrilError):
    """The registry answered, with content we refuse (wrong digest, not our artifact)."""

    def __init__(self, ref: str, why: str, hint: str) -> None:
        super().__init__([Diagnostic("JR080", why, Span(ref), hint)])


@dataclass(frozen=True)
class Artifact:
    ref: str
    digest: str  # sha256:... of the manifest
    bundle: bytes
    signature: bytes | None


class _Registry(oras.provider.Registry):  # type: ignore[misc]
    """oras' client, with a timeout on every request and no sleeping retry loop."""

    do_request = oras.provider.Registry.do_request.__wrapped__

    def __init__(self, plain_http: bool, timeout_s: float) -> None:
        super().__init__(insecure=plain_http, tls_verify=not plain_http)
        self.session.request = functools.partial(self.session.request, timeout=timeout_s)  # type: ignore[method-assign]


def parse_ref(ref: str) -> oras.container.Container:
    try:
        c = oras.container.Container(ref)
    except ValueError as e:
        raise RegistryError(ref, f"not a registry reference: {e}",
                            "write REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST") from None
    if "/" not in ref.split("@")[0] or "." not in c.registry and ":" not in c.registry \
            and c.registry != "localhost":
        raise RegistryError(ref, "the reference names no registry host",
                            "write HOST:PORT/REPO:TAG, e.g. 127.0.0.1:5000/rules/prod:stable")
    return c


class Client:
    def __init__(self, plain_http: bool = False, timeout_s: float = TIMEOUT_S) -> None:
        self.reg = _Registry(plain_http, timeout_s)

    def _call(self, ref: str, fn: Any, *args: Any, **kw: Any) -> requests.Response:
        try:
            r: requests.Response = fn(*args, **kw)
        except requests.exceptions.RequestException as e:
            raise RegistryError(ref, f"registry unreachable: {_short(e)}",
                                "is the registry up? (--plain-http for a registry without TLS)") from None
        except ValueError as e:
            raise RegistryError(ref, f"registry refused the request: {e}") from None
        return r

    # -- push --------------------------------------------------------------------------
    def _blob(self, ref: str, c: oras.container.Container, data: bytes, media: str,
              title: str | None) -> dict[str, Any]:
        layer: dict[str, Any] = {"mediaType": media, "size": len(data),
                                 "digest": "sha256:" + hashlib.sha256(data).hexdigest()}
        if title:
            layer["annotations"] = {oras.defaults.annotation_title: title}
        with tempfile.NamedTemporaryFile(prefix="jibril-blob-") as f:
            f.write(data)
            f.flush()
            r = self._call(ref, self.reg.upload_blob, f.name, c,
                           {k: v for k, v in layer.items() if k != "annotations"})
        if r.status_code not in (200, 201, 202):
            raise RegistryError(ref, f"blob upload refused: HTTP {r.status_code} {r.reason}")
        return layer

    def push(self, bundle: bytes, signature: bytes | None, ref: str, name: str) -> str:
        """Upload config + layers + manifest under `ref`; return the manifest digest."""
        c = parse_ref(ref)
        if c.digest:
            raise RegistryError(ref, "push needs a tag, not a digest", "write REGISTRY/REPO:TAG")
        meta = _meta(bundle)
        config = self._blob(ref, c, json.dumps(meta, sort_keys=True).encode(), MEDIA_CONFIG, None)
        layers = [self._blob(ref, c, bundle, MEDIA_BUNDLE, name)]
        if signature is not None:
            layers.append(self._blob(ref, c, signature, MEDIA_SIGNATURE, name + ".sig"))
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
                    "config": config, "layers": layers}
        return self.put_manifest(ref, c, json.dumps(manifest, sort_keys=True).encode())

    def put_manifest(self, ref: str, c: oras.container.Container, body: bytes) -> str:
        r = self._call(ref, self.reg.do_request, f"{self.reg.prefix}://{c.manifest_url()}", "PUT",
                       data=body, headers={"Content-Type": MANIFEST_TYPE})
        if r.status_code not in (200, 201, 202):
            raise RegistryError(ref, f"manifest upload refused: HTTP {r.status_code} {_body(r)}")
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def retag(self, src: str, tag: str) -> str:
        """Point `tag` (in src's repository) at src's manifest: rollback is a re-tag."""
        c = parse_ref(src)
        body, digest = self._manifest(src, c)
        dst = oras.container.Container(f"{c.registry}/{c.api_prefix}:{tag}")
        self.put_manifest(f"{c.registry}/{c.api_prefix}:{tag}", dst, body)
        return digest

    # -- pull --------------------------------------------------------------------------
    def _manifest(self, ref: str, c: oras.container.Container) -> tuple[bytes, str]:
        r = self._call(ref, self.reg.do_request, f"{self.reg.prefix}://{c.manifest_url()}", "GET",
                       headers={"Accept": MANIFEST_TYPE})
        if r.status_code == 404:
            raise RegistryError(ref, "no such tag or digest in the registry",
                                "push it first with 'jibril push', or check the tag")
        if r.status_code != 200:
            raise RegistryError(ref, f"registry answered HTTP {r.status_code} {_body(r)}")
        body = r.content
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if c.digest and c.digest != digest:
            raise BadArtifact(ref, f"the registry served a manifest with digest {digest}, "
                              "not the one asked for", "the registry content is corrupt")
        return body, digest

    def resolve(self, ref: str) -> str:
        """The digest `ref` points at now (a tag moves; a digest is itself)."""
        c = parse_ref(ref)
        return self._manifest(ref, c)[1]

    def fetch(self, ref: str) -> Artifact:
        c = parse_ref(ref)
        body, digest = self._manifest(ref, c)
        try:
            m = json.loads(body)
            layers = {str(x["mediaType"]): x for x in m["layers"]}
        except (ValueError, KeyError, TypeError):
            raise BadArtifact(ref, "the manifest is not an OCI image manifest",
                              "push the bundle with 'jibril push'") from None
        if MEDIA_BUNDLE not in layers:
            raise BadArtifact(ref, "this artifact holds no jibril bundle",
                              f"push one with 'jibril push' (layer type {MEDIA_BUNDLE})")
        bundle = self._get_blob(ref, c, layers[MEDIA_BUNDLE])
        sig = self._get_blob(ref, c, layers[MEDIA_SIGNATURE]) if MEDIA_SIGNATURE in layers else None
        return Artifact(ref, digest, bundle, sig)

    def _get_blob(self, ref: str, c: oras.container.Container, layer: dict[str, Any]) -> bytes:
        want, size = str(layer.get("digest")), int(layer.get("size", 0))
        if size > MAX_BLOB:
            raise BadArtifact(ref, f"layer {want} is {size} bytes, more than {MAX_BLOB}",
                              "a bundle is a few MB at most: this is not one")
        r = self._call(ref, self.reg.get_blob, c, want)
        if r.status_code != 200:
            raise RegistryError(ref, f"blob {want}: HTTP {r.status_code} {_body(r)}")
        data = r.content
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != want:  # content addressing: a blob changed in storage is refused here
            raise BadArtifact(ref, f"blob {want[:19]}... served with digest {got[:19]}...",
                              "the registry storage is corrupt or was tampered with")
        return data


def _meta(bundle: bytes) -> dict[str, Any]:
    from .signing import bundle_metadata
    return bundle_metadata(bundle)


def _short(e: Exception) -> str:
    text = str(e)
    for marker in ("Connection refused", "Read timed out", "Name or service not known",
                   "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return text[:200]


def _body(r: requests.Response) -> str:
    return (r.text or r.reason or "")[:200].strip()


def write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
