"""`jibril keygen | sign | verify | push | pull | tag`: the fleet commands.

Exit codes: 0 done, 1 refused / failed (a located message says why), 2 usage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..core.errors import JibrilError
from .conventions import command, opts


def _fail(e: JibrilError) -> None:
    from ..core.report import format_human
    sys.stderr.write(format_human(e.diagnostics, {}))
    sys.exit(1)


def _readable(bundle: str) -> None:
    """Refuse a corrupt bundle; one made for a newer engine may still be signed and shipped."""
    from ..bundle import read
    try:
        read(bundle)
    except JibrilError as e:
        if any(d.code != "JR082" for d in e.diagnostics):
            raise


@command(examples=[
    ("jibril keygen --out keys/release", "writes keys/release.key (0600) and keys/release.pub"),
    ("jibril compile my/ -o b.jbundle --sign keys/release.key", "compile and sign in one step"),
], exits={1: "the key files cannot be written"})
@click.option("--out", "prefix", metavar="PREFIX", required=True, help="Writes PREFIX.key (mode 0600) and PREFIX.pub.")
def keygen(prefix: str) -> None:
    """Create an Ed25519 signing key pair for bundles."""
    from ..fleet.signing import keygen as make
    try:
        key, pub = make(prefix)
    except JibrilError as e:
        _fail(e)
    from ..fleet.signing import load_public
    click.echo(f"wrote {key} (private, mode 0600) and {pub} (key id {load_public(pub).key_id}); "
               f"give agents {pub} (bundles.trust), keep {key} on the build machine")


@command(examples=[
    ("jibril sign b.jbundle --key keys/release.key", "writes b.jbundle.sig beside the bundle"),
    ("jibril sign b.jbundle --key k.key --revision v1.4.0", "record a source revision in the signature"),
], exits={1: "the bundle is corrupt or the key cannot be read"})
@click.argument("bundle")
@click.option("--key", "key_path", required=True, help="PREFIX.key from `jibril keygen`.")
@click.option("--revision", default=None, show_default="git HEAD, if any", help="Source revision to record.")
def sign(bundle: str, key_path: str, revision: str | None) -> None:
    """Sign BUNDLE: writes BUNDLE.sig beside it (the bundle bytes stay as they are)."""
    from ..fleet.signing import git_revision, sign_file
    try:
        _readable(bundle)  # refuse to sign something that is not a bundle
        out = sign_file(bundle, key_path, revision or git_revision(bundle))
    except JibrilError as e:
        _fail(e)
    click.echo(f"signed {bundle} -> {out}")


@command(examples=[
    ("jibril verify b.jbundle --key keys/release.pub", "exit 0 when b.jbundle.sig is valid"),
    ("jibril verify b.jbundle --key old.pub --key new.pub", "accept either key (during a rotation)"),
], exits={1: "unsigned, wrongly signed, or the bundle or key cannot be read"})
@click.argument("bundle")
@click.option("--key", "keys", multiple=True, required=True, help="PREFIX.pub (repeatable).")
def verify(bundle: str, keys: tuple[str, ...]) -> None:
    """Exit 0 when BUNDLE.sig is a valid signature of BUNDLE by one of the keys, else 1."""
    from ..fleet.signing import load_public, verify_file
    try:
        v = verify_file(bundle, [load_public(k) for k in keys])
    except JibrilError as e:
        _fail(e)
    p = v.payload
    click.echo(f"{bundle}: valid signature by {v.key.describe()}; sha256 {p['sha256']}, "
               f"format {p['format_version']}, min engine {p['min_engine']}, "
               f"source revision {p['source_revision'] or 'unknown'}")


@command(examples=[
    ("jibril push b.jbundle registry.example:5000/sec/rules:stable", "bundle and signature as one OCI artifact"),
    ("jibril push b.jbundle 127.0.0.1:5000/rules:dev --plain-http", "a local registry without TLS"),
], exits={1: "the bundle is corrupt or the registry refused or is unreachable"})
@click.argument("bundle")
@click.argument("ref")
@click.option("--plain-http", is_flag=True, help="Registry without TLS (e.g. on 127.0.0.1).")
def push(bundle: str, ref: str, plain_http: bool) -> None:
    """Push BUNDLE (and BUNDLE.sig) to REGISTRY/REPO:TAG as an OCI artifact."""
    from ..fleet.oci import Client
    from ..fleet.signing import sig_path
    try:
        _readable(bundle)
        data = Path(bundle).read_bytes()
        sp = sig_path(bundle)
        sig = Path(sp).read_bytes() if os.path.exists(sp) else None
        digest = Client(plain_http).push(data, sig, ref, os.path.basename(bundle))
    except JibrilError as e:
        _fail(e)
    if sig is None:
        click.echo(f"warning: {bundle} is unsigned: agents with a trust key will refuse it "
                   "(jibril sign BUNDLE --key PREFIX.key)", err=True)
    click.echo(f"pushed {bundle} -> {ref} ({digest})")


@command(examples=[
    ("jibril pull registry.example:5000/sec/rules:stable -o b.jbundle --key release.pub", "verify, then write"),
    ("jibril pull REG/rules@sha256:... -o b.jbundle", "by digest; trust keys from bundles.trust"),
], exits={1: "verification failed (nothing written), or the registry is unreachable"}, config="set-only")
@click.argument("ref")
@click.option("-o", "--output", "out", required=True, help="Bundle file to write (and OUT.sig).")
@click.option("--key", "keys", multiple=True, help="PREFIX.pub to verify with (default: bundles.trust).")
@click.option("--plain-http", is_flag=True, help="Registry without TLS (e.g. on 127.0.0.1).")
def pull(ref: str, out: str, keys: tuple[str, ...], plain_http: bool) -> None:
    """Fetch REF (tag or digest), verify it, then write it; nothing is written on failure."""
    from ..bundle import from_bytes
    from ..fleet.oci import Client, write_atomic
    from ..fleet.signing import sig_path
    from ..fleet.trust import policy_for
    try:
        policy = policy_for(opts().config(), keys)
        art = Client(plain_http).fetch(ref)
        verified = policy.verify(art.bundle, art.signature, ref) if policy.keys else None
        from_bytes(art.bundle, ref)  # corrupt or too new for this engine: refuse as well
    except JibrilError as e:
        _fail(e)
    if art.signature is not None:
        write_atomic(sig_path(out), art.signature)
    write_atomic(out, art.bundle)
    how = (f"verified: signed by {verified.key.describe()}" if verified else
           "UNVERIFIED: no --key and no bundles.trust, the signature was not checked")
    click.echo(f"pulled {ref} ({art.digest}) -> {out}; {how}")


@command(name="tag", examples=[
    ("jibril tag REG/rules@sha256:OLD stable", "roll back: point stable at a previous digest"),
    ("jibril tag REG/rules:v1.4 stable --plain-http", "promote a tag on a local registry"),
], exits={1: "the registry refused or is unreachable"})
@click.argument("src")
@click.argument("tag")
@click.option("--plain-http", is_flag=True, help="Registry without TLS (e.g. on 127.0.0.1).")
def tag_cmd(src: str, tag: str, plain_http: bool) -> None:
    """Point TAG (same repository) at SRC's manifest: roll back with REPO@sha256:OLD stable."""
    from ..fleet.oci import Client
    try:
        digest = Client(plain_http).retag(src, tag)
    except JibrilError as e:
        _fail(e)
    click.echo(f"tagged {digest} as {tag}")

