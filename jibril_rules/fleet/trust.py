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

from ..core.errors import Collector, Diagnostic, JibrilError, Span
from .signing import SIG_SUFFIX, PublicKey, Verified, load_public, sig_path, verify_bytes

BUNDLES_KEYS = ("trust",)


def check_bundles_section(section: Any, diags: Collector, base_dir: str) -> dict[str, Any]:
    """Validate `bundles:` with spans; return it with trust paths made absolute."""
    from ..core.source import key_span, span_of
    if not isinstance(section, dict):
        diags.add("JR021", "'bundles' must be a mapping", span_of(section),
                  "e.g. bundles: {trust: [/etc/jibril/fleet.pub]}")
        return {}
    for k in section:
        if k not in BUNDLES_KEYS:
            diags.add("JR020", f"unknown bundles option '{k}'", key_span(section, str(k)),
                      "valid keys: " + ", ".join(BUNDLES_KEYS))
    trust = section.get("trust", [])
    if trust is None:
        trust = []
    if not isinstance(trust, list) or not all(isinstance(p, str) for p in trust):
        diags.add("JR021", "'bundles.trust' must be a list of public key paths",
                  span_of(section, "trust"), "e.g. trust: [/etc/jibril/fleet.pub]")
        return {}
    paths = []
    for i, p in enumerate(trust):
        full = os.path.abspath(p if os.path.isabs(p) else os.path.join(base_dir, p))
        try:
            load_public(full)
        except JibrilError as e:
            d = e.diagnostics[0]
            diags.add("JR022", f"trust key {p}: {d.message}", span_of(trust, i), d.hint)
        paths.append(full)
    return {"trust": paths}


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
