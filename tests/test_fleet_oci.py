"""OCI distribution (issue 10): push/pull/verify through a real registry on 127.0.0.1.

The registry is Debian's docker-registry (the CNCF distribution registry), started here on a
free loopback port with its storage under tmp_path, and stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_support import Registry, registry

from jibril_rules.core.errors import JibrilError

ROOT = Path(__file__).resolve().parent.parent
RECIPE = """
- kind: watch
  name: {name}
  mechanism: file_access
  file_actions: [create]
  bases: [{{dir: /nonexistent-fleet-dir, base: x}}]
"""


def jibril(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture()
def reg(tmp_path: Path) -> Iterator[Registry]:
    with registry(tmp_path / "registry") as r:
        yield r


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    w = tmp_path / "w"
    w.mkdir()
    (w / "r.yaml").write_text(RECIPE.format(name="fleet_one"))
    assert jibril("keygen", "--out", "k", cwd=w).returncode == 0
    assert jibril("compile", "r.yaml", "-o", "b.jbundle", "--sign", "k.key", cwd=w).returncode == 0
    return w


def test_push_pull_verify_by_tag_and_digest(reg: Registry, work: Path) -> None:
    ref = f"{reg.addr}/jibril/rules:stable"
    r = jibril("push", "b.jbundle", ref, "--plain-http", cwd=work)
    assert r.returncode == 0, r.stderr
    digest = r.stdout.strip().rsplit("(", 1)[1].rstrip(")")
    assert digest.startswith("sha256:")
    r = jibril("pull", ref, "-o", "p.jbundle", "--key", "k.pub", "--plain-http", cwd=work)
    assert r.returncode == 0 and "verified" in r.stdout, r.stderr
    assert (work / "p.jbundle").read_bytes() == (work / "b.jbundle").read_bytes()
    assert jibril("verify", "p.jbundle", "--key", "k.pub", cwd=work).returncode == 0
    by_digest = f"{reg.addr}/jibril/rules@{digest}"
    r = jibril("pull", by_digest, "-o", "d.jbundle", "--key", "k.pub", "--plain-http", cwd=work)
    assert r.returncode == 0 and digest in r.stdout, r.stderr
    # the same signed bundle pushed again is the same digest (no timestamp in the manifest)
    r2 = jibril("push", "b.jbundle", f"{reg.addr}/jibril/rules:again", "--plain-http", cwd=work)
    assert digest in r2.stdout
    # the artifact uses our media types, the signature is its own layer
    from jibril_rules.fleet.oci import MEDIA_BUNDLE, MEDIA_SIGNATURE, Client
    art = Client(plain_http=True).fetch(ref)
    assert art.signature == (work / "b.jbundle.sig").read_bytes()
    import urllib.request
    req = urllib.request.Request(f"http://{reg.addr}/v2/jibril/rules/manifests/stable",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    m = json.loads(urllib.request.urlopen(req, timeout=5).read())
    assert [x["mediaType"] for x in m["layers"]] == [MEDIA_BUNDLE, MEDIA_SIGNATURE]


def _push_raw(reg: Registry, tag: str, bundle: bytes, sig: bytes | None) -> None:
    from jibril_rules.fleet.oci import Client
    Client(plain_http=True).push(bundle, sig, f"{reg.addr}/jibril/rules:{tag}", "b.jbundle")


def test_tampered_bytes_or_signature_are_refused_and_nothing_written(reg: Registry, work: Path) -> None:
    bundle = (work / "b.jbundle").read_bytes()
    sig = (work / "b.jbundle.sig").read_bytes()
    _push_raw(reg, "bytes", bundle.replace(b"fleet_one", b"fleet_0ne"), sig)
    doc = json.loads(sig)
    doc["payload"]["min_engine"] = "0.0.1"
    _push_raw(reg, "sig", bundle, json.dumps(doc).encode())
    _push_raw(reg, "unsigned", bundle, None)
    for tag, words in (("bytes", "do not match the signature"), ("sig", "does not verify"),
                       ("unsigned", "unsigned")):
        out = work / f"{tag}.jbundle"
        r = jibril("pull", f"{reg.addr}/jibril/rules:{tag}", "-o", str(out), "--key", "k.pub",
                   "--plain-http", cwd=work)
        assert r.returncode == 1 and words in r.stderr, (tag, r.stderr)
        assert not out.exists() and not Path(str(out) + ".sig").exists()
    # without any key, pull works and says plainly that it did not verify
    r = jibril("pull", f"{reg.addr}/jibril/rules:unsigned", "-o", "u.jbundle", "--plain-http", cwd=work)
    assert r.returncode == 0 and "UNVERIFIED" in r.stdout


def test_blob_changed_in_registry_storage_is_refused(reg: Registry, work: Path, tmp_path: Path) -> None:
    ref = f"{reg.addr}/jibril/rules:stable"
    assert jibril("push", "b.jbundle", ref, "--plain-http", cwd=work).returncode == 0
    import hashlib
    want = hashlib.sha256((work / "b.jbundle").read_bytes()).hexdigest()
    blobs = list((tmp_path / "registry" / "storage").rglob(f"blobs/sha256/{want[:2]}/{want}/data"))
    assert blobs
    data = blobs[0].read_bytes()
    blobs[0].write_bytes(data.replace(b"fleet_one", b"fleet_0ne"))
    r = jibril("pull", ref, "-o", "p.jbundle", "--key", "k.pub", "--plain-http", cwd=work)
    assert r.returncode == 1 and not (work / "p.jbundle").exists(), r.stderr
    assert "tampered" in r.stderr or "do not match" in r.stderr


def test_retag_is_a_rollback(reg: Registry, work: Path) -> None:
    (work / "r2.yaml").write_text(RECIPE.format(name="fleet_two"))
    assert jibril("compile", "r2.yaml", "-o", "b2.jbundle", "--sign", "k.key", cwd=work).returncode == 0
    base = f"{reg.addr}/jibril/rules"
    one = jibril("push", "b.jbundle", f"{base}:v1", "--plain-http", cwd=work).stdout
    d1 = one.strip().rsplit("(", 1)[1].rstrip(")")
    assert jibril("push", "b2.jbundle", f"{base}:stable", "--plain-http", cwd=work).returncode == 0
    r = jibril("tag", f"{base}@{d1}", "stable", "--plain-http", cwd=work)
    assert r.returncode == 0, r.stderr
    assert jibril("pull", f"{base}:stable", "-o", "p.jbundle", "--key", "k.pub", "--plain-http",
                  cwd=work).returncode == 0
    assert (work / "p.jbundle").read_bytes() == (work / "b.jbundle").read_bytes()


def test_registry_down_is_a_clear_error_quickly(work: Path) -> None:
    from fleet_support import free_port
    r = jibril("pull", f"127.0.0.1:{free_port()}/jibril/rules:stable", "-o", "p.jbundle",
               "--key", "k.pub", "--plain-http", cwd=work)
    assert r.returncode == 1 and "registry unreachable" in r.stderr and "Traceback" not in r.stderr
    r = jibril("pull", "not a ref", "-o", "p.jbundle", cwd=work)
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_follower_offers_new_digests_refuses_bad_ones_and_survives_the_registry(
        reg: Registry, work: Path, tmp_path: Path) -> None:
    """The poller alone (the live swap is in test_fleet_follow.py): `offer` stands for the agent."""
    import hashlib
    import time

    from jibril_rules.fleet.follow import Audit, Follower, FollowOptions, LastGood
    from jibril_rules.fleet.oci import Client
    from jibril_rules.fleet.trust import TrustPolicy
    (work / "r2.yaml").write_text(RECIPE.format(name="fleet_two"))
    assert jibril("compile", "r2.yaml", "-o", "b2.jbundle", "--sign", "k.key", cwd=work).returncode == 0
    ref = f"{reg.addr}/jibril/rules:stable"
    assert jibril("push", "b.jbundle", ref, "--plain-http", cwd=work).returncode == 0
    said: list[str] = []
    audit = tmp_path / "audit.jsonl"
    fol = Follower(FollowOptions(ref, 0.2, True), TrustPolicy.from_paths([str(work / "k.pub")], "test"),
                   LastGood(str(tmp_path / "state")), Audit(str(audit)), said.append)
    first = fol.initial()
    assert first.by_name("fleet_one") and fol.status()["active_source"] == "registry"
    offered: list[object] = []
    fol.start(lambda b, done: (offered.append(b), done(None)))
    try:
        assert jibril("push", "b2.jbundle", ref, "--plain-http", cwd=work).returncode == 0
        end = time.monotonic() + 15
        while not offered and time.monotonic() < end:
            time.sleep(0.05)
        assert offered and offered[0].by_name("fleet_two")  # type: ignore[attr-defined]
        # a blob changed in the registry's storage: refused once, not retried as "registry down"
        (work / "r3.yaml").write_text(RECIPE.format(name="fleet_three"))
        assert jibril("compile", "r3.yaml", "-o", "b3.jbundle", "--sign", "k.key", cwd=work).returncode == 0
        want = hashlib.sha256((work / "b3.jbundle").read_bytes()).hexdigest()
        Client(plain_http=True).push((work / "b3.jbundle").read_bytes(),
                                     (work / "b3.jbundle.sig").read_bytes(), f"{reg.addr}/jibril/other:x", "b3")
        blob = next((tmp_path / "registry" / "storage").rglob(f"blobs/sha256/{want[:2]}/{want}/data"))
        blob.write_bytes(blob.read_bytes().replace(b"fleet_three", b"fleet_thr3e"))
        assert jibril("push", "b3.jbundle", ref, "--plain-http", cwd=work).returncode == 0
        end = time.monotonic() + 15
        while fol.status()["refused_digest"] is None and time.monotonic() < end:
            time.sleep(0.05)
        st = fol.status()
        assert "served with digest" in st["refused_reason"], st
        assert len(offered) == 1
        polls = st["polls"]
        time.sleep(1)
        assert fol.status()["polls"] > polls and len(offered) == 1  # not offered again
        reg.stop()
        end = time.monotonic() + 15
        while not fol.status()["registry"].startswith("unreachable") and time.monotonic() < end:
            time.sleep(0.05)
        assert fol.status()["registry"].startswith("unreachable")
    finally:
        fol.stop()
    events = [json.loads(x)["event"] for x in audit.read_text().splitlines()]
    assert events[:2] == ["activated", "activated"]
    assert events.count("refused") == 1  # refused once, never retried (a digest cannot change)
    assert "registry_unreachable" in events
    # a restart with the registry down starts from the last good bundle (fleet_two)
    fol2 = Follower(FollowOptions(ref, 0.2, True), TrustPolicy.from_paths([str(work / "k.pub")], "t"),
                    LastGood(str(tmp_path / "state")), Audit(None), said.append)
    again = fol2.initial()
    assert again.by_name("fleet_two") and fol2.status()["active_source"] == "last good"
    assert any("LAST GOOD" in s for s in said)
    # with the key rotated away, the last good bundle is refused too
    assert jibril("keygen", "--out", "new", cwd=work).returncode == 0
    fol3 = Follower(FollowOptions(ref, 0.2, True), TrustPolicy.from_paths([str(work / "new.pub")], "t"),
                    LastGood(str(tmp_path / "state")), Audit(None), said.append)
    with pytest.raises(JibrilError) as ei:
        fol3.initial()
    assert "untrusted key" in ei.value.diagnostics[0].message


def test_a_registry_that_never_answers_is_bounded(tmp_path: Path) -> None:
    import socket
    import time

    from jibril_rules.fleet.oci import Client, RegistryError
    with socket.socket() as srv:  # accepts connections (backlog) and never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(RegistryError) as ei:
            Client(plain_http=True, timeout_s=0.5).resolve(f"127.0.0.1:{port}/jibril/rules:stable")
        assert time.monotonic() - t0 < 3
    assert "unreachable" in ei.value.diagnostics[0].message
