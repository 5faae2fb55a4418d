"""Signing (issue 10): keygen, sign, verify, compile --sign, the trust policy, the engine gate."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jibril_rules.core.errors import JibrilError

ROOT = Path(__file__).resolve().parent.parent
RECIPE = """
- kind: watch
  name: fleet_watch
  mechanism: file_access
  file_actions: [create]
  bases: [{dir: /nonexistent-fleet-dir, base: x}]
"""


def jibril(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "jibril_rules.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture()
def signed(tmp_path: Path) -> Path:
    (tmp_path / "r.yaml").write_text(RECIPE)
    assert jibril("keygen", "--out", "k", cwd=tmp_path).returncode == 0
    r = jibril("compile", "r.yaml", "-o", "b.jbundle", "--sign", "k.key", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_keygen_modes_and_no_overwrite(signed: Path) -> None:
    assert stat.S_IMODE(os.stat(signed / "k.key").st_mode) == 0o600
    assert b"PUBLIC KEY" in (signed / "k.pub").read_bytes()
    r = jibril("keygen", "--out", "k", cwd=signed)
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr


def test_verify_valid_then_tampered_bytes_and_signature(signed: Path) -> None:
    ok = jibril("verify", "b.jbundle", "--key", "k.pub", cwd=signed)
    assert ok.returncode == 0 and "valid signature" in ok.stdout and "min engine" in ok.stdout
    bundle = (signed / "b.jbundle").read_bytes()
    sig = (signed / "b.jbundle.sig").read_bytes()
    (signed / "b.jbundle").write_bytes(bundle.replace(b"fleet_watch", b"fleet_watcx"))
    r = jibril("verify", "b.jbundle", "--key", "k.pub", cwd=signed)
    assert r.returncode == 1 and "do not match the signature" in r.stderr and "b.jbundle:1:1" in r.stderr
    (signed / "b.jbundle").write_bytes(bundle)
    doc = json.loads(sig)
    doc["payload"]["source_revision"] = "forged"
    (signed / "b.jbundle.sig").write_text(json.dumps(doc))
    r = jibril("verify", "b.jbundle", "--key", "k.pub", cwd=signed)
    assert r.returncode == 1 and "does not verify" in r.stderr
    os.remove(signed / "b.jbundle.sig")
    r = jibril("verify", "b.jbundle", "--key", "k.pub", cwd=signed)
    assert r.returncode == 1 and "unsigned" in r.stderr and "k.pub (key id" in r.stderr


def test_other_key_is_named(signed: Path) -> None:
    from jibril_rules.fleet.signing import load_public
    assert jibril("keygen", "--out", "other", cwd=signed).returncode == 0
    r = jibril("verify", "b.jbundle", "--key", "other.pub", cwd=signed)
    assert r.returncode == 1 and "untrusted key" in r.stderr
    assert load_public(str(signed / "other.pub")).key_id in r.stderr


def test_signature_payload_covers_metadata(signed: Path) -> None:
    from jibril_rules import __version__
    p = json.loads((signed / "b.jbundle.sig").read_text())["payload"]
    doc = json.loads((signed / "b.jbundle").read_text())
    assert p["format_version"] == doc["version"] == 1
    assert p["min_engine"] == doc["engine"] == __version__
    assert p["hash"] == doc["hash"] and p["size"] == len((signed / "b.jbundle").read_bytes())
    assert p["source_revision"] is None  # tmp_path is no git checkout
    assert jibril("sign", "b.jbundle", "--key", "k.key", "--revision", "abc123", cwd=signed).returncode == 0
    assert json.loads((signed / "b.jbundle.sig").read_text())["payload"]["source_revision"] == "abc123"
    assert jibril("verify", "b.jbundle", "--key", "k.pub", cwd=signed).returncode == 0


def test_compile_is_still_reproducible_with_sign(signed: Path) -> None:
    r = jibril("compile", "r.yaml", "-o", "c.jbundle", cwd=signed)
    assert r.returncode == 0
    assert (signed / "c.jbundle").read_bytes() == (signed / "b.jbundle").read_bytes()


def test_trust_policy_refuses_unsigned_with_located_message(signed: Path) -> None:
    from jibril_rules.config import load_config
    from jibril_rules.fleet.trust import load_checked, policy_for
    (signed / "jibril.yaml").write_text("bundles:\n  trust: [k.pub]\n")
    cfg = load_config(str(signed / "jibril.yaml"))
    policy = policy_for(cfg)
    said: list[str] = []
    b, v = load_checked([str(signed / "b.jbundle")], policy, said.append)
    assert v is not None and b.by_name("fleet_watch") and "verified" in said[0]
    (signed / "u.jbundle").write_bytes((signed / "b.jbundle").read_bytes())
    with pytest.raises(JibrilError) as ei:
        load_checked([str(signed / "u.jbundle")], policy, said.append)
    d = ei.value.diagnostics[0]
    assert d.code == "JR081" and d.span.file.endswith("u.jbundle") and "unsigned" in d.message
    assert str(signed / "k.pub") in d.message and policy.keys[0].key_id in d.message
    assert "bundles.trust in" in d.hint
    with pytest.raises(JibrilError) as ei:  # recipe sources are not a signed bundle
        load_checked([str(signed / "r.yaml")], policy, said.append)
    assert "only a signed bundle loads" in ei.value.diagnostics[0].message


def test_no_trust_key_says_unverified(signed: Path) -> None:
    from jibril_rules.fleet.trust import TrustPolicy, load_checked
    said: list[str] = []
    load_checked([str(signed / "b.jbundle")], TrustPolicy(), said.append)
    assert "UNVERIFIED" in said[0]


def test_bad_trust_key_in_config_is_located(tmp_path: Path) -> None:
    from jibril_rules.config import load_config
    (tmp_path / "jibril.yaml").write_text("bundles:\n  trust:\n    - missing.pub\n")
    with pytest.raises(JibrilError) as ei:
        load_config(str(tmp_path / "jibril.yaml"))
    d = ei.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == ("JR022", 3, 7) and "missing.pub" in d.message
    (tmp_path / "jibril.yaml").write_text("bundles:\n  trsut: []\n")
    with pytest.raises(JibrilError) as ei:
        load_config(str(tmp_path / "jibril.yaml"))
    d = ei.value.diagnostics[0]
    assert (d.code, d.span.line) == ("JR020", 2) and "did you mean 'trust'" in d.hint


def test_newer_engine_bundle_is_refused(signed: Path) -> None:
    from jibril_rules.bundle import from_bytes
    doc = json.loads((signed / "b.jbundle").read_text())
    doc["engine"] = "99.0.0"
    with pytest.raises(JibrilError) as ei:
        from_bytes(json.dumps(doc).encode(), "new.jbundle")
    d = ei.value.diagnostics[0]
    assert d.code == "JR082" and "99.0.0 or newer" in d.message and d.span.file == "new.jbundle"


def test_replay_refuses_unsigned_bundle_when_trust_is_set(signed: Path) -> None:
    (signed / "jibril.yaml").write_text("bundles:\n  trust: [k.pub]\n")
    (signed / "ev.jsonl").write_text("")
    ok = jibril("replay", "ev.jsonl", "--from", "b.jbundle", cwd=signed)
    assert ok.returncode == 0 and "verified" in ok.stderr, ok.stderr
    (signed / "u.jbundle").write_bytes((signed / "b.jbundle").read_bytes())
    r = jibril("replay", "ev.jsonl", "--from", "u.jbundle", cwd=signed)
    assert r.returncode == 1 and "u.jbundle:1:1" in r.stderr and "k.pub (key id" in r.stderr
