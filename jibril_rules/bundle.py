"""The compiled bundle: one versioned, hashed, byte-reproducible file.

The only contract between compile time and run time: data classes and their bytes, nothing
else (the compiler writes it in compiler/driver.py, the runtime reads it). This module is the
one JSON codec of the IR.

Layout: canonical JSON {"format": "jibril-bundle", "version": N, "hash": xxh3_64(body), "body": …}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never

import xxhash

from . import __version__ as ENGINE_VERSION
from .core.errors import Diagnostic, JibrilError, Span
from .core.ir import And, Atom, AtomKey, Const, IRRecipe, Node, Or
from .core.kernel_tables import KernelTables
from .core.ops import Op
from .core.reaction import Reaction

FORMAT = "jibril-bundle"
VERSION = 1
SUFFIX = ".jbundle"


@dataclass(frozen=True)
class CompiledRecipe:
    index: int
    name: str
    kind: str
    mechanism: str
    meta: dict[str, str]
    times: tuple[tuple[str, int], ...]
    reactions: tuple[Reaction, ...]
    mode: str | None
    span: Span
    condition_text: str
    hash: str
    ir: IRRecipe
    prevent: str | None = None  # kill | deny, decided in the kernel (tables.prevent)


# Decision-tree index keys in order of preference (most selective first). "file.prefix": the
# directory prefixes of file.file; "flow.names": the dot-suffixes of the remote names.
INDEX_FIELDS = ("file.file", "file.basename", "process.exe", "file.dir", "file.prefix",
                "process.comm", "flow.names", "flow.remote.port", "flow.local.port")


@dataclass(frozen=True)
class TreeData:
    """Serializable index: mechanism -> {field -> {value -> [recipe]}}, plus unindexed lists."""

    index: dict[str, dict[str, dict[str, list[int]]]]
    rest: dict[str, list[int]]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "rest": self.rest}

    @staticmethod
    def from_json(d: dict[str, Any]) -> TreeData:
        return TreeData(d["index"], d["rest"])


@dataclass(frozen=True)
class Bundle:
    recipes: tuple[CompiledRecipe, ...]
    atoms: tuple[AtomKey, ...]
    tables: KernelTables
    tree: TreeData
    hash: str
    diagnostics: tuple[Diagnostic, ...] = ()

    def by_name(self, name: str) -> CompiledRecipe | None:
        return next((r for r in self.recipes if r.name == name), None)

    def to_bytes(self) -> bytes:
        return canonical({"format": FORMAT, "version": VERSION, "hash": self.hash,
                          "engine": ENGINE_VERSION, "body": body_json(self)}) + b"\n"


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_of(obj: Any) -> str:
    return xxhash.xxh3_64_hexdigest(canonical(obj))


# -- the IR in JSON: ["T"] ["F"] ["a", id] ["n", id] ["&", [kids]] ["|", [kids]] ------------
def node_json(n: Node) -> Any:
    match n:
        case Const(value):
            return ["T"] if value else ["F"]
        case Atom(i, negated):
            return ["n" if negated else "a", i]
        case And(kids):
            return ["&", [node_json(k) for k in kids]]
        case Or(kids):
            return ["|", [node_json(k) for k in kids]]
        case _:
            assert_never(n)


def node_from_json(j: Any) -> Node:
    tag = j[0]
    if tag == "T" or tag == "F":
        return Const(tag == "T")
    if tag == "a" or tag == "n":
        return Atom(int(j[1]), tag == "n")
    if tag == "&":
        return And(tuple(node_from_json(k) for k in j[1]))
    if tag == "|":
        return Or(tuple(node_from_json(k) for k in j[1]))
    raise ValueError(f"unknown IR node {tag!r}")


def reaction_json(x: Reaction) -> dict[str, Any]:
    return {"format": x.format, "code": x.code, "code_line": x.code_line, "code_col": x.code_col,
            "timeout_ms": x.timeout_ms, "memory_mb": x.memory_mb}


def _reaction_from_json(j: dict[str, Any]) -> Reaction:
    return Reaction(str(j["format"]), str(j["code"]), code_line=int(j["code_line"]),
                    code_col=int(j["code_col"]), timeout_ms=_opt_int(j.get("timeout_ms")),
                    memory_mb=_opt_int(j.get("memory_mb")))


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def recipe_hash(r: CompiledRecipe) -> str:
    """The hash of what a recipe does (reload keeps the `times` counters of unchanged ones)."""
    return hash_of([r.name, r.kind, r.mechanism, r.meta, [list(t) for t in r.times],
                    [reaction_json(x) for x in r.reactions], r.mode, node_json(r.ir.cond),
                    [[n, node_json(x)] for n, x in r.ir.excs]] + ([r.prevent] if r.prevent else []))


def _recipe_json(r: CompiledRecipe) -> dict[str, Any]:
    return {"index": r.index, "name": r.name, "kind": r.kind, "mechanism": r.mechanism,
            "meta": r.meta, "times": [list(t) for t in r.times],
            "reactions": [reaction_json(x) for x in r.reactions],
            "mode": r.mode, "span": [r.span.file, r.span.line, r.span.col],
            "condition": r.condition_text, "hash": r.hash, "cond": node_json(r.ir.cond),
            "exceptions": [[n, node_json(x)] for n, x in r.ir.excs], "prevent": r.prevent}


def _atom_json(a: AtomKey) -> list[Any]:
    return [a.field, a.op.value, list(a.value) if isinstance(a.value, tuple) else a.value]


def body_json(b: Bundle) -> dict[str, Any]:
    return {"recipes": [_recipe_json(r) for r in b.recipes],
            "atoms": [_atom_json(a) for a in b.atoms],
            "tables": b.tables.to_json(), "tree": b.tree.to_json()}


def _corrupt(path: str, why: str, hint: str = "recompile it with 'jibril compile'") -> JibrilError:
    return JibrilError([Diagnostic("JR080", why, Span(path), hint)])


def version_key(v: str) -> tuple[int, ...]:
    """'0.10.2' -> (0, 10, 2); a non-numeric part counts as 0 (compares numerically)."""
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("+")[0].split("."))


def from_bytes(data: bytes, path: str = "<bundle>", allow_empty: bool = False) -> Bundle:
    """Decode a bundle; every problem is a JR080 JibrilError (`allow_empty`: 0 recipes is fine)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _corrupt(path, f"bundle is corrupt: not UTF-8 at byte {e.start}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _corrupt(path, f"bundle is corrupt or truncated (not valid JSON: {e.msg} at byte {e.pos})") from None
    except RecursionError:
        raise _corrupt(path, "bundle is corrupt (nested too deeply)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _corrupt(path, "not a jibril bundle (format marker missing)")
    ver = doc.get("version")
    if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
        raise _corrupt(path, f"bundle format version {json.dumps(ver)} is not a version (1 to {VERSION})")
    if ver > VERSION:
        raise _corrupt(path, f"bundle format version {ver} is newer than this jibril (reads {VERSION})",
                       "upgrade jibril-rules, or compile the recipes with this version")
    engine = doc.get("engine")  # the minimum engine: the version of the compiler that wrote it
    if engine is not None and version_key(str(engine)) > version_key(ENGINE_VERSION):
        raise JibrilError([Diagnostic(
            "JR082", f"bundle needs jibril engine {engine} or newer; this engine is {ENGINE_VERSION}",
            Span(path), "upgrade jibril-rules on this host, or use a bundle compiled by this version")])
    body = doc.get("body")
    if not isinstance(body, dict) or hash_of(body) != doc.get("hash"):
        raise _corrupt(path, "bundle hash does not match its contents (corrupt or edited)")
    from .bundlecheck import body_problem
    problem = body_problem(body, allow_empty)
    if problem:
        raise _corrupt(path, f"bundle is malformed: {problem}")
    try:
        return _from_body(body, str(doc["hash"]))
    except Exception as e:  # noqa: BLE001 - any decoding failure of a hashed body is corruption
        raise _corrupt(path, f"bundle is malformed: {type(e).__name__}: {str(e)[:200]}") from None


def _from_body(body: dict[str, Any], h: str) -> Bundle:
    atoms = tuple(AtomKey(str(f), Op(op), tuple(v) if isinstance(v, list) else v)
                  for f, op, v in body["atoms"])
    recipes = []
    for j in body["recipes"]:
        ir = IRRecipe(int(j["index"]), str(j["name"]), node_from_json(j["cond"]),
                      tuple((str(n), node_from_json(x)) for n, x in j["exceptions"]))
        recipes.append(CompiledRecipe(
            ir.index, ir.name, str(j["kind"]), str(j["mechanism"]), dict(j["meta"]),
            tuple((str(k), int(m)) for k, m in j["times"]),
            tuple(_reaction_from_json(x) for x in j["reactions"]), j["mode"],
            Span(str(j["span"][0]), int(j["span"][1]), int(j["span"][2])), str(j["condition"]),
            str(j["hash"]), ir, j.get("prevent")))
    return Bundle(tuple(recipes), atoms, KernelTables.from_json(body["tables"]),
                  TreeData.from_json(body["tree"]), h)


def write(bundle: Bundle, path: str) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_bytes(bundle.to_bytes())
    tmp.replace(path)  # atomic: a reader never sees half a bundle


def read(path: str) -> Bundle:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise _corrupt(path, f"cannot read bundle: {e.strerror}", "check the path") from None
    return from_bytes(data, path)


def is_bundle_path(path: str) -> bool:
    if path.endswith(SUFFIX):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(32).startswith(b'{"body"')
    except OSError:
        return False

