"""The compiled bundle: one versioned, hashed, byte-reproducible file.

Layout: canonical JSON {"format": "jibril-bundle", "version": N, "hash": xxh3_64(body), "body": …}.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from .compiler import ast as A
from .compiler.ir import AtomKey, IRRecipe, build, ir_from_json, ir_to_json
from .compiler.recipe import Recipe
from .compiler.ruleset import Ruleset, load_paths
from .compiler.split import build_tables
from .core.errors import Collector, Diagnostic, JibrilError, Severity, Span
from .core.kernel_tables import KernelTables
from .runtime.tree import TreeData, build_tree

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
    reactions: tuple[dict[str, Any], ...]  # format, code, code_line, code_col, timeout_ms, memory_mb
    mode: str | None
    span: Span
    condition_text: str
    hash: str
    ir: IRRecipe


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
        return _canonical({"format": FORMAT, "version": VERSION, "hash": self.hash,
                           "body": _body(self)}) + b"\n"


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _hash(obj: Any) -> str:
    return xxhash.xxh3_64_hexdigest(_canonical(obj))


def _recipe_json(r: CompiledRecipe) -> dict[str, Any]:
    return {"index": r.index, "name": r.name, "kind": r.kind, "mechanism": r.mechanism,
            "meta": r.meta, "times": [list(t) for t in r.times], "reactions": list(r.reactions),
            "mode": r.mode, "span": [r.span.file, r.span.line, r.span.col],
            "condition": r.condition_text, "hash": r.hash, "cond": ir_to_json(r.ir.cond),
            "exceptions": [[n, ir_to_json(x)] for n, x in r.ir.excs]}


def _body(b: Bundle) -> dict[str, Any]:
    return {"recipes": [_recipe_json(r) for r in b.recipes],
            "atoms": [[f, op, list(v) if isinstance(v, tuple) else v] for f, op, v in b.atoms],
            "tables": b.tables.to_json(), "tree": b.tree.to_json()}


def compile_ruleset(rs: Ruleset, include_disabled: bool = False) -> Bundle:
    """AST -> IR -> (kernel tables + decision tree) -> Bundle."""
    if not rs.ok:
        raise JibrilError([d for d in rs.diagnostics if d.severity.value == "error"])
    active: tuple[Recipe, ...] = tuple(r for r in rs.recipes if r.enabled or include_disabled)
    irs, table = build(active)
    diags = Collector(list(rs.diagnostics))
    tables = build_tables(irs, table.atoms, diags, [r.span for r in active])
    tree = build_tree(irs, table.atoms)
    recipes = []
    for r, ir in zip(active, irs, strict=True):
        reactions = tuple({"format": x.format, "code": x.code, "code_line": x.code_line,
                           "code_col": x.code_col, "timeout_ms": x.timeout_ms,
                           "memory_mb": x.memory_mb} for x in r.reactions)
        text = A.render(r.condition)
        meta = dict(r.meta)
        times = tuple((t.kind, t.max) for t in r.times)
        h = _hash([r.name, r.kind, r.mechanism, meta, [list(t) for t in times], list(reactions),
                   r.mode, ir_to_json(ir.cond), [[n, ir_to_json(x)] for n, x in ir.excs]])
        recipes.append(CompiledRecipe(ir.index, r.name, r.kind, r.mechanism, meta, times,
                                      reactions, r.mode, r.span, text, h, ir))
    partial = Bundle(tuple(recipes), tuple(table.atoms), tables, tree, "", tuple(diags.items))
    return Bundle(partial.recipes, partial.atoms, tables, tree, _hash(_body(partial)),
                  partial.diagnostics)


def _corrupt(path: str, why: str, hint: str = "recompile it with 'jibril compile'") -> JibrilError:
    return JibrilError([Diagnostic("JR080", why, Span(path), hint)])


def from_bytes(data: bytes, path: str = "<bundle>") -> Bundle:
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
    if not isinstance(ver, int) or ver > VERSION:
        raise _corrupt(path, f"bundle format version {ver} is newer than this jibril (reads {VERSION})",
                       "upgrade jibril-rules, or compile the recipes with this version")
    body = doc.get("body")
    if not isinstance(body, dict) or _hash(body) != doc.get("hash"):
        raise _corrupt(path, "bundle hash does not match its contents (corrupt or edited)")
    try:
        return _from_body(body, str(doc["hash"]))
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise _corrupt(path, f"bundle is malformed: {e!r}") from None


def _from_body(body: dict[str, Any], h: str) -> Bundle:
    atoms = tuple((str(f), str(op), tuple(v) if isinstance(v, list) else v)
                  for f, op, v in body["atoms"])
    recipes = []
    for j in body["recipes"]:
        ir = IRRecipe(int(j["index"]), str(j["name"]), ir_from_json(j["cond"]),
                      tuple((str(n), ir_from_json(x)) for n, x in j["exceptions"]))
        recipes.append(CompiledRecipe(
            ir.index, ir.name, str(j["kind"]), str(j["mechanism"]), dict(j["meta"]),
            tuple((str(k), int(m)) for k, m in j["times"]), tuple(j["reactions"]), j["mode"],
            Span(str(j["span"][0]), int(j["span"][1]), int(j["span"][2])), str(j["condition"]),
            str(j["hash"]), ir))
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


def load_any(paths: list[str], include_disabled: bool = False) -> Bundle:
    """Load a bundle file, or compile recipe files/folders; raise JibrilError on problems."""
    if len(paths) == 1 and Path(paths[0]).is_file() and is_bundle_path(paths[0]):
        return read(paths[0])
    return compile_ruleset(load_paths(paths), include_disabled)


def load_isolated(paths: list[str], include_disabled: bool = False) -> Bundle:
    """Like load_any, but recipes are compiled in a separate interpreter.

    A long-running agent then holds only the bundle, not the compiler's garbage (about
    15 MB for 1,000 recipes), and a compiler crash cannot take the agent down.
    """
    if len(paths) == 1 and Path(paths[0]).is_file() and is_bundle_path(paths[0]):
        return read(paths[0])
    code = "from jibril_rules.bundle import _child_main; _child_main()"
    r = subprocess.run([sys.executable, "-c", code, json.dumps(paths), str(int(include_disabled))],
                       capture_output=True, timeout=600, check=False)
    if r.returncode == 0:
        return from_bytes(r.stdout, "<compiled recipes>")
    try:
        diags = [Diagnostic(d["code"], d["message"], Span(d["file"], d["line"], d["column"]),
                            d["hint"], Severity(d["severity"])) for d in json.loads(r.stderr)]
    except (ValueError, KeyError, TypeError):
        text = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        diags = [Diagnostic("JR000", f"the recipe compiler failed: {text[0]}", Span(paths[0]),
                            "run 'jibril lint' on the recipes")]
    raise JibrilError(diags)


def _child_main() -> None:
    paths, include_disabled = json.loads(sys.argv[1]), sys.argv[2] == "1"
    try:
        data = load_any(paths, include_disabled).to_bytes()
    except JibrilError as e:
        sys.stderr.write(json.dumps([d.to_json() for d in e.diagnostics]))
        sys.exit(1)
    sys.stdout.buffer.write(data)
