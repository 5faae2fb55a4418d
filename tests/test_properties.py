"""Properties: the decision tree equals naive evaluation; the kernel filter never drops a match."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jibril_rules.compiler import ast as A
from jibril_rules.compiler.driver import compile_ruleset
from jibril_rules.compiler.recipe import Exception_, Recipe
from jibril_rules.compiler.ruleset import Ruleset
from jibril_rules.core.fields import FIELDS
from jibril_rules.core.ops import Op
from jibril_rules.core.vocab import FILE_ACTIONS
from jibril_rules.runtime.engine import Engine
from jibril_rules.runtime.events import normalize
from jibril_rules.runtime.kernel_model import KernelModel

PATHS = ["/etc/passwd", "/etc/shadow", "/tmp/x", "/tmp/a/b", "/usr/bin/xmrig", "/etc/sudoers.d/z",
         "/home/u/.ssh/authorized_keys", "/dev/shm/y", "/e", "/etcx/passwd"]
EXES = ["/usr/bin/curl", "/tmp/xmrig", "/bin/sh", "/usr/bin/apt"]
COMMS = ["curl", "xmrig", "sh", "apt", "nginx"]
IPS = ["10.0.0.5", "1.2.3.4", "2001:db8::1", "192.168.1.1", "127.0.0.1"]
CIDRS = ["10.0.0.0/8", "1.2.3.4/32", "2001:db8::/32", "192.168.0.0/16"]
PORTS = [22, 443, 3333, 4444]
NAMES = ["pool.minexmr.com", "example.com", "www.example.org", ""]
MECHS = ["file_access", "execution", "network_peers"]

S = st.sampled_from


def atoms() -> st.SearchStrategy[A.Node]:
    def tup(pool: list[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
        return st.lists(S(pool), min_size=1, max_size=3, unique=True).map(tuple)
    pre = S(["/etc/", "/tmp/", "/e", "/", "/etc/sudoers.d/", "/tmp/a"])
    return st.one_of(
        st.builds(A.Cmp, st.just("file.file"), S([Op.EQ, Op.NE]), S(PATHS)),
        st.builds(A.Cmp, st.just("file.file"), st.just(Op.IN), tup(PATHS)),
        st.builds(A.Cmp, st.just("file.file"), st.just(Op.STARTSWITH), pre),
        st.builds(A.Cmp, st.just("file.file"), st.just(Op.REGEX),
                  S(["^/etc/.*", "passwd$", "^/tmp/a", "^(?:/etc/sudoers\\.d/.*)$", "sh"])),
        st.builds(A.Cmp, st.just("file.file"), st.just(Op.GLOB), S(["/tmp/*", "/etc/pass*", "*/y"])),
        st.builds(A.Cmp, st.just("file.dir"), S([Op.EQ]), S(["/etc", "/tmp", "/tmp/a", "/"])),
        st.builds(A.Cmp, st.just("file.dir"), S([Op.STARTSWITH]), pre),
        st.builds(A.Cmp, st.just("file.basename"), S([Op.EQ]), S(["passwd", "x", "b", "z"])),
        st.builds(A.Cmp, st.just("file.basename"), st.just(Op.IN), tup(["passwd", "xmrig", "y"])),
        st.builds(A.Cmp, st.just("file.actions"), st.just(Op.CONTAINS), S(FILE_ACTIONS)),
        st.builds(A.Cmp, st.just("file.actions"), st.just(Op.IN), tup(list(FILE_ACTIONS))),
        st.builds(A.Cmp, st.just("process.exe"), S([Op.EQ, Op.STARTSWITH, Op.ENDSWITH]), S(EXES + ["/tmp/"])),
        st.builds(A.Cmp, st.just("process.comm"), S([Op.EQ, Op.CONTAINS]), S(COMMS)),
        st.builds(A.Cmp, st.just("process.pid"), S([Op.LT, Op.GT, Op.EQ]), S([100, 500, 1000])),
        st.builds(A.Cmp, st.just("ancestry[*].comm"), st.just(Op.IN), tup(COMMS)),
        st.builds(A.Cmp, st.just("flow.remote.address"), st.just(Op.IN), tup(CIDRS)),
        st.builds(A.Cmp, st.just("flow.remote.address"), st.just(Op.EQ), S(IPS)),
        st.builds(A.Cmp, S(["flow.remote.port", "flow.local.port"]), S([Op.EQ]), S(PORTS)),
        st.builds(A.Cmp, st.just("flow.remote.port"), st.just(Op.IN), tup(PORTS)),
        st.builds(A.Cmp, st.just("flow.remote.names"), S([Op.CONTAINS, Op.ENDSWITH]),
                  S(["example.com", ".org", "pool.minexmr.com"])),
        st.builds(A.Cmp, st.just("event.mechanism"), st.just(Op.IN), tup(MECHS)),
        st.builds(A.Cmp, S(["process.exe", "flow.remote.names", "file.file"]), st.just(Op.EXISTS), st.none()),
    )


conditions = st.recursive(
    atoms(),
    lambda kids: st.one_of(
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: A.And(tuple(xs))),
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: A.Or(tuple(xs))),
        kids.map(A.Not)),
    max_leaves=6)


@st.composite
def recipes(draw: st.DrawFn) -> tuple[Recipe, ...]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        mech = draw(S(MECHS))
        gate = A.Cmp("event.mechanism", Op.IN, {"file_access": ("file_access", "execution"),
                                                 "execution": ("execution",),
                                                 "network_peers": ("network_peers",)}[mech])
        cond = A.And((gate, draw(conditions)))
        excs = tuple(Exception_(f"x{j}", draw(atoms()), A.NOSPAN) for j in range(draw(st.integers(0, 1))))
        out.append(Recipe(kind="k", name=f"r{i}", mechanism=mech, condition=cond, exceptions=excs))
    return tuple(out)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    mech = draw(S(MECHS))
    exe = draw(S(EXES))
    proc = {"pid": draw(S([50, 500, 4000])), "exe": exe, "comm": draw(S(COMMS)), "cmd": exe}
    anc = [{"comm": c, "exe": "/x/" + c} for c in draw(st.lists(S(COMMS), max_size=3))] + [proc]
    ev: dict[str, Any] = {"uuid": "u", "mechanism": mech, "process": proc, "background": {"ancestry": anc}}
    if mech == "network_peers":
        ev["flow"] = {"proto": "tcp", "remote": {"address": draw(S(IPS)), "port": draw(S(PORTS)),
                                                 "names": [n for n in [draw(S(NAMES))] if n]},
                      "local": {"address": draw(S(IPS)), "port": draw(S(PORTS + [50000]))}}
    else:
        path = draw(S(PATHS)) if mech == "file_access" else draw(S(PATHS + EXES))
        acts = ["execve"] if mech == "execution" else draw(
            st.lists(S([a for a in FILE_ACTIONS if a != "execve"]), min_size=1, max_size=3, unique=True))
        ev["file"] = {"file": path, "actions": acts}
    return normalize(ev)


def naive_value(ev: dict[str, Any], c: A.Cmp) -> bool:
    """An independent, slow interpretation of one comparison."""
    f = FIELDS[c.field]
    v = f.extract(ev)
    if c.op is Op.EXISTS:
        return v not in (None, "", [])
    if c.op is Op.NE:
        return not naive_value(ev, A.Cmp(c.field, Op.EQ, c.value))
    elems = v if isinstance(v, list) else ([] if v is None else [v])

    def one(e: Any) -> bool:
        x = c.value
        if f.type.scalar.value == "ip":
            nets = [ipaddress.ip_network(n) for n in (x if isinstance(x, tuple) else (x,))]
            ip = ipaddress.ip_address(e)
            return any(ip.version == n.version and ip in n for n in nets)
        return {Op.EQ: lambda: e == x, Op.IN: lambda: e in x, Op.LT: lambda: e < x,
                Op.GT: lambda: e > x, Op.STARTSWITH: lambda: e.startswith(x),
                Op.ENDSWITH: lambda: e.endswith(x),
                Op.CONTAINS: lambda: (x == e) if f.type.is_list else (x in e),
                Op.REGEX: lambda: re.search(x, e) is not None,
                Op.GLOB: lambda: fnmatch.fnmatchcase(e, x)}[c.op]()
    return any(one(e) for e in elems)


def naive(ev: dict[str, Any], n: A.Node) -> bool:
    if isinstance(n, A.Cmp):
        return naive_value(ev, n)
    if isinstance(n, A.Not):
        return not naive(ev, n.item)
    if isinstance(n, A.And):
        return all(naive(ev, i) for i in n.items)
    if isinstance(n, A.Or):
        return any(naive(ev, i) for i in n.items)
    assert isinstance(n, A.Const)
    return n.value


PROFILE = settings(max_examples=int(__import__("os").environ.get("HYPOTHESIS_EXAMPLES", "400")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(recipes(), st.lists(events(), min_size=1, max_size=8))
def test_tree_equals_naive_and_kernel_is_sound(rs: tuple[Recipe, ...], evs: list[dict[str, Any]]) -> None:
    bundle = compile_ruleset(Ruleset(rs, ()))
    engine = Engine(bundle, kernel_model=False)
    kernel = KernelModel(bundle.tables)
    for ev in evs:
        want = {r.name for r in rs if naive(ev, r.condition)
                and not any(naive(ev, x.condition) for x in r.exceptions)}
        got = {d.recipe_name for d in engine.process(ev, normalized=True)}
        assert got == want, (ev, [A.render(r.condition) for r in rs])
        if any(naive(ev, r.condition) for r in rs):
            assert kernel.passes(ev), ("kernel dropped a match", ev, bundle.tables)


@PROFILE
@given(recipes())
def test_bundle_is_deterministic_and_roundtrips(rs: tuple[Recipe, ...]) -> None:
    from jibril_rules.bundle import from_bytes
    a = compile_ruleset(Ruleset(rs, ())).to_bytes()
    b = compile_ruleset(Ruleset(rs, ())).to_bytes()
    assert a == b
    assert from_bytes(a).to_bytes() == a
