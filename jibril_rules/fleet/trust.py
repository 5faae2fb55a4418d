"""`bundles.trust`: which keys an agent accepts, applied to every bundle it loads.

With trust keys configured, a load refuses anything but a bundle signed by one of them
(recipe sources included: a fleet host runs what was signed, not what lies in a folder).
Without, loading works and says plainly that the bundle is unverified (never silently).
The `bundles:` section of jibril.yaml is checked here, apart from the rest of config.py,
so it ports to one schema as a block.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import Diagnostic, JibrilError, Span
from .signing import SIG_SUFFIX, PublicKey, Verified, load_public, sig_path, verify_bytes


def bundles_section() -> Any:
    """The `bundles:` section of jibril.yaml, in the config's schema (core/confschema.py)."""
    from ..core.confschema import Field, ListOf, Path, Section
    return Section((Field("trust", ListOf(Path(sample="/etc/jibril/fleet.pub")), (),
                          "public keys (PREFIX.pub, relative to jibril.yaml): every load must be "
                          "signed by one of them"),),
                   "fleet deployment (docs/fleet.md)", rules=(_trust_keys_load,))


def _key_path(config_path: str, p: str) -> str:
    return os.path.abspath(p if os.path.isabs(p) else os.path.join(os.path.dirname(config_path), p))


def _trust_keys_load(raw: Any, vals: dict[str, Any], at: Any) -> None:
    """Each trust key must be readable as an Ed25519 public key, located at its list item."""
    from ..core.source import span_of
    items = raw.get("trust") if isinstance(raw, dict) else None
    for i, p in enumerate(vals.get("trust", ())):
        try:
            load_public(_key_path(at.span.file, p))
        except JibrilError as e:
            d = e.diagnostics[0]
            at.diags.add("JR022", f"trust key {p}: {d.message}", span_of(items, i, at.span), d.hint)


def trust_config(config_path: str, checked: dict[str, Any]) -> dict[str, Any]:
    """Config.bundles: the trust key paths made absolute (relative to the config file)."""
    return {"trust": [_key_path(config_path, p) for p in checked.get("trust", ())]}


@dataclass(frozen=True)
class TrustPolicy:
    keys: tuple[PublicKey, ...] = ()
    origin: str = ""  # where the keys came from, for messages

    @classmethod
    def from_paths(cls, paths: list[str] | tuple[str, ...], origin: str) -> TrustPolicy:
        return cls(tuple(load_public(p) for p in paths), origin)

    def describe(self) -> str:
        return ", ".join(k.describe() for k in self.keys)

    def verify(self, data: bytes, sig: bytes | None, where: str) -> Verified:
        try:
            return verify_bytes(data, sig, list(self.keys), where)
        except JibrilError as e:
            d = e.diagnostics[0]
            raise JibrilError([Diagnostic(d.code, d.message, d.span,
                                          f"{d.hint} (trust keys from {self.origin})")]) from None


def policy_for(cfg: Any, extra: tuple[str, ...] = ()) -> TrustPolicy:
    """--key paths first, else bundles.trust from the loaded Config."""
    if extra:
        return TrustPolicy.from_paths(list(extra), "--key")
    paths = list((getattr(cfg, "bundles", None) or {}).get("trust", []))
    return TrustPolicy.from_paths(paths, f"bundles.trust in {cfg.path}") if paths else TrustPolicy()


def load_checked(paths: list[str], policy: TrustPolicy,
                 say: Callable[[str], None]) -> tuple[Any, Verified | None]:
    """Load what `jibril run --from` names under the trust policy; raise located errors."""
    from ..bundle import from_bytes, is_bundle_path
    from ..runtime.loading import load_isolated
    single = len(paths) == 1 and Path(paths[0]).is_file() and is_bundle_path(paths[0])
    if policy.keys:
        if not single:
            where = paths[0] if paths else "alchemies"
            raise JibrilError([Diagnostic(
                "JR081", f"bundles.trust is set: only a signed bundle loads, and {where} is "
                f"recipe sources; expected a bundle signed by {policy.describe()}", Span(where),
                "compile and sign: jibril compile RECIPES -o B.jbundle --sign PREFIX.key")])
        path = paths[0]
        data = Path(path).read_bytes()
        sp = sig_path(path)
        sig = Path(sp).read_bytes() if os.path.exists(sp) else None
        verified = policy.verify(data, sig, path)
        bundle = from_bytes(data, path)  # the very bytes that were verified
        say(f"jibril: bundle {path} verified: signed by {verified.key.describe()}")
        return bundle, verified
    bundle = load_isolated(paths)
    if single:
        say(f"jibril: bundle {paths[0]} is UNVERIFIED: no bundles.trust configured, its "
            f"signature ({paths[0]}{SIG_SUFFIX}) is not checked")
    return bundle, None
