"""`jibril run --follow REF`: keep an agent on what a registry tag points at, safely.

A poller thread resolves REF every `every` seconds (with jitter, so a fleet does not poll in
step). When the digest changes it pulls that exact digest, verifies the signature against
the trust keys (fails closed: there is no unverified follow), checks the bundle in a child
process (parse, engine-version gate, decision tree), then hands it to the agent, whose event
loop swaps it in through the existing reload path (new kernel tables under a new generation:
no coverage gap). A refused digest is remembered with its reason and never retried; the
running bundle stays. A registry that is down or slow only delays the next poll (backoff);
detection never waits on it. Each accepted bundle is kept in state_dir/fleet/, so an agent
restarted while the registry is unreachable starts from the last good one, and says so.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import Diagnostic, JibrilError, Span
from .child import check_in_child
from .oci import Artifact, Client, RegistryError, parse_ref, write_atomic
from .trust import TrustPolicy

Say = Callable[[str], None]
Offer = Callable[[Any, Callable[[Exception | None], None]], None]
MAX_BACKOFF_S = 300.0
JITTER = 0.2  # +-20% of each wait
POLL_TIMEOUT_S = 5.0
SWAP_TIMEOUT_S = 120.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """'2s', '500ms', '5m', '1h' or bare seconds -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (e.g. 30s, 500ms, 5m)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    value = float(m.group(1)) * scale
    if value < 0.1:
        raise ValueError(f"--every {text} is too short (at least 100ms)")
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _short(digest: str | None) -> str:
    return (digest or "none")[:19]


class LastGood:
    """state_dir/fleet/: the last accepted bundle, its signature and where it came from."""

    def __init__(self, state_dir: str) -> None:
        self.dir = Path(state_dir) / "fleet"
        self.bundle = self.dir / "last-good.jbundle"
        self.meta = self.dir / "last-good.json"

    def save(self, art: Artifact) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if art.signature is not None:
            write_atomic(str(self.bundle) + ".sig", art.signature)
        write_atomic(str(self.bundle), art.bundle)
        write_atomic(str(self.meta), json.dumps({"ref": art.ref, "digest": art.digest,
                                                 "at": _now()}, sort_keys=True).encode())

    def load(self) -> tuple[Artifact, str] | None:
        try:
            meta = json.loads(self.meta.read_text())
            data = self.bundle.read_bytes()
            sp = Path(str(self.bundle) + ".sig")
            sig = sp.read_bytes() if sp.exists() else None
        except (OSError, ValueError):
            return None
        return Artifact(str(meta.get("ref")), str(meta.get("digest")), data, sig), str(meta.get("at"))


class Audit:
    """Bundle decisions appended to the audit trail the reactions also write (JSONL)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        if not self.path:
            return
        line = json.dumps({"time": _now(), "type": "bundle", "event": event, **fields},
                          sort_keys=True, default=str) + "\n"
        with self._lock:
            try:
                os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError:
                pass  # the audit trail must never stop detection


@dataclass(frozen=True)
class FollowOptions:
    ref: str
    every_s: float = 30.0
    plain_http: bool = False


class Follower:
    def __init__(self, opts: FollowOptions, policy: TrustPolicy, state: LastGood, audit: Audit,
                 say: Say, client: Client | None = None) -> None:
        if not policy.keys:
            raise JibrilError([Diagnostic(
                "JR081", "--follow needs a trust key: a followed bundle is never loaded unverified",
                Span(opts.ref), "pass --key PREFIX.pub or set bundles.trust in jibril.yaml")])
        self.container = parse_ref(opts.ref)
        self.opts, self.policy, self.state, self.audit, self.say = opts, policy, state, audit, say
        self.client = client or Client(opts.plain_http, POLL_TIMEOUT_S)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None
        self.active: str | None = None
        self.active_source = ""
        self.refused: dict[str, str] = {}  # digest -> reason (content-addressed: never retried)
        self.last_refused: tuple[str, str] | None = None
        self.registry = "not checked yet"
        self.polls = self.poll_failures = self.swaps = 0
        self.last_check = ""

    # -- vetting -----------------------------------------------------------------------
    def _pinned(self, digest: str) -> str:
        c = self.container
        return f"{c.registry}/{c.api_prefix}@{digest}"

    def vet(self, art: Artifact) -> Any:
        """Signature, then a child process loads it, then this process parses the same bytes."""
        from ..bundle import from_bytes
        self.policy.verify(art.bundle, art.signature, self._pinned(art.digest))
        check_in_child(art.bundle, self._pinned(art.digest))
        return from_bytes(art.bundle, self._pinned(art.digest))

    def _refuse(self, digest: str, e: Exception) -> None:
        reason = _reason(e)
        with self._lock:
            self.refused[digest] = reason
            self.last_refused = (digest, reason)
        self.audit.write("refused", ref=self.opts.ref, digest=digest, reason=reason,
                         active=self.active)
        self.say(f"jibril: REFUSED bundle {digest} from {self.opts.ref}: {reason}; "
                 f"keeping {_short(self.active)}")

    def _activated(self, art: Artifact, bundle: Any, source: str) -> None:
        with self._lock:
            self.active, self.active_source = art.digest, source
        self.audit.write("activated", ref=self.opts.ref, digest=art.digest, source=source,
                         recipes=len(bundle.recipes), hash=bundle.hash,
                         keys=self.policy.describe())

    # -- startup -----------------------------------------------------------------------
    def initial(self) -> Any:
        """The bundle to start with: REF now, else the last good one (the registry may be down)."""
        why = ""
        try:
            art = self.client.fetch(self.opts.ref)
            self._registry_ok()
            try:
                bundle = self.vet(art)
            except JibrilError as e:
                self._refuse(art.digest, e)
                why = f"bundle {art.digest} was refused"
            else:
                self.state.save(art)
                self._activated(art, bundle, "registry")
                self.say(f"jibril: following {self.opts.ref}: bundle {art.digest} verified "
                         f"(signed by {self.policy.describe()}), {len(bundle.recipes)} recipes")
                return bundle
        except RegistryError as e:
            self._registry_down(e)
            why = f"registry unreachable ({_reason(e)})"
        except JibrilError as e:  # the registry answered with something we refuse
            self._registry_ok()
            why = f"the artifact at {self.opts.ref} was refused ({_reason(e)})"
            self.say(f"jibril: REFUSED {self.opts.ref}: {_reason(e)}")
        last = self.state.load()
        if last is None:
            raise JibrilError([Diagnostic(
                "JR083", f"cannot start following {self.opts.ref}: {why}, and there is no last "
                f"good bundle in {self.state.dir}", Span(self.opts.ref),
                "start the registry (or fix the tag) for the first start; later starts use the "
                "last good bundle")])
        art, at = last
        bundle = self.vet(art)  # trust keys may have been rotated since: check again
        self._activated(art, bundle, "last good")
        self.audit.write("started_from_last_good", ref=self.opts.ref, digest=art.digest, why=why,
                         saved_at=at)
        self.say(f"jibril: {why}; starting from the LAST GOOD bundle {art.digest} (pulled {at}, "
                 f"verified again); will switch when {self.opts.ref} is reachable")
        return bundle

    # -- polling -----------------------------------------------------------------------
    def start(self, offer: Offer) -> None:
        self._thread = threading.Thread(target=self._loop, args=(offer,), name="jibril-follow",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(POLL_TIMEOUT_S * 3)

    def poke(self) -> None:
        """Poll now (SIGHUP / `jibril ctl reload` in follow mode)."""
        self._poke.set()

    def _loop(self, offer: Offer) -> None:
        delay = self.opts.every_s
        while not self._stop.is_set():
            self._poke.wait(delay * random.uniform(1 - JITTER, 1 + JITTER))
            self._poke.clear()
            if self._stop.is_set():
                return
            try:
                self.check_once(offer)
                delay = self.opts.every_s
            except RegistryError as e:
                self._registry_down(e)
                delay = min(max(delay * 2, self.opts.every_s), MAX_BACKOFF_S)
            except Exception as e:  # noqa: BLE001 - the poller must outlive anything
                self.say(f"jibril: follow: unexpected error, retrying: {e}")
                delay = min(max(delay * 2, self.opts.every_s), MAX_BACKOFF_S)

    def check_once(self, offer: Offer) -> None:
        with self._lock:
            self.polls += 1
            self.last_check = _now()
        digest = self.client.resolve(self.opts.ref)
        self._registry_ok()
        if digest == self.active or digest in self.refused:
            return
        try:
            art = self.client.fetch(self._pinned(digest))
            art = Artifact(self.opts.ref, art.digest, art.bundle, art.signature)
            bundle = self.vet(art)
        except RegistryError:
            raise  # connectivity: retried with backoff
        except JibrilError as e:  # content: refused for good (a digest never changes)
            self._refuse(digest, e)
            return
        done = threading.Event()
        result: list[Exception | None] = []

        def finished(err: Exception | None) -> None:
            result.append(err)
            done.set()
        offer(bundle, finished)
        if not done.wait(SWAP_TIMEOUT_S):
            self._refuse(digest, TimeoutError("the agent did not swap within "
                                              f"{SWAP_TIMEOUT_S:.0f} s"))
            return
        if result[0] is not None:
            self._refuse(digest, result[0])
            return
        self.state.save(art)
        with self._lock:
            self.swaps += 1
        self._activated(art, bundle, "registry")
        self.say(f"jibril: following {self.opts.ref}: switched to bundle {digest} "
                 f"({len(bundle.recipes)} recipes)")

    def _registry_ok(self) -> None:
        with self._lock:
            was = self.registry
            self.registry = "ok"
        if was.startswith("unreachable"):
            self.audit.write("registry_back", ref=self.opts.ref)
            self.say(f"jibril: registry for {self.opts.ref} is reachable again")

    def _registry_down(self, e: Exception) -> None:
        with self._lock:
            was = self.registry
            self.registry = f"unreachable: {_reason(e)}"
            self.poll_failures += 1
        if not was.startswith("unreachable"):
            self.audit.write("registry_unreachable", ref=self.opts.ref, reason=_reason(e))
            self.say(f"jibril: registry for {self.opts.ref} unreachable ({_reason(e)}); "
                     f"detection goes on with {_short(self.active)}, retrying with backoff")

    # -- status ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            refused = self.last_refused
            out: dict[str, Any] = {
                "ref": self.opts.ref, "active_digest": self.active,
                "active_source": self.active_source, "registry": self.registry,
                "refused_digest": refused[0] if refused else None,
                "refused_reason": refused[1] if refused else None,
                "polls": self.polls, "poll_failures": self.poll_failures, "swaps": self.swaps,
                "last_check": self.last_check}
        text = f"bundle {_short(self.active)} ({self.active_source})"
        if refused:
            text += f", refused {_short(refused[0])}: {refused[1][:120]}"
        if self.registry != "ok":
            text += f", registry {self.registry}"
        out["summary"] = text
        return out


def _reason(e: Exception) -> str:
    if isinstance(e, JibrilError) and e.diagnostics:
        d = e.diagnostics[0]
        return f"{d.code}: {d.message}"
    return str(e) or type(e).__name__


def setup(ref: str, every: str, plain_http: bool, policy: TrustPolicy, reactions: dict[str, Any],
          say: Say) -> Follower:
    """Build the follower of `jibril run --follow` from the CLI options and jibril.yaml."""
    from ..reactions import ReactionConfig
    try:
        every_s = parse_duration(every)
    except ValueError as e:
        raise JibrilError([Diagnostic("JR022", str(e), Span("--every"), "e.g. --every 30s")]) from None
    rc = ReactionConfig.from_dict({k: v for k, v in reactions.items()})
    audit = os.path.join(rc.state_dir, "audit.jsonl") if rc.audit_path is None else rc.audit_path
    return Follower(FollowOptions(ref, every_s, plain_http), policy, LastGood(rc.state_dir),
                    Audit(audit), say)
