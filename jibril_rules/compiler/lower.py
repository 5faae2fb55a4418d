"""Lower a validated recipe mapping (Jibril fields + `when:`) into one AST condition."""

from __future__ import annotations

from typing import Any

from ..core.errors import Collector, Span
from ..core.ops import Op
from ..core.reaction import Reaction
from ..core.source import LMap, SourceFile, span_of
from ..core.vocab import MECHANISM_EVENTS, expand_actions
from . import ast as A
from .grammar import PosMap, parse_expr
from .recipe import META_KEYS, Exception_, Recipe, TimesCap

MECH_GATE = MECHANISM_EVENTS
_WHAT_FIELDS: dict[str, tuple[str, ...]] = {
    "exe": ("process.exe",), "cmd": ("process.cmd",), "args": ("process.args",),
    "comm": ("process.comm",), "uid": ("process.uid",), "pid": ("process.pid",),
    "ppid": ("process.ppid",), "parent_exe": ("parent.exe",), "parent_cmd": ("parent.cmd",),
    "parent_args": ("parent.args",), "parent_comm": ("parent.comm",),
    "task_or_parent_exe": ("process.exe", "parent.exe"),
    "task_or_parent_args": ("process.args", "parent.args"),
    "task_or_parent_cmd": ("process.cmd", "parent.cmd"),
    "ancient_exe": ("ancestry[*].exe",), "ancient_cmd": ("ancestry[*].cmd",),
    "remote_port": ("flow.remote.port",), "local_port": ("flow.local.port",),
    "remote_address": ("flow.remote.address",), "local_address": ("flow.local.address",),
}


def expr_pos(src: SourceFile | None, entry: LMap, key: str) -> PosMap:
    """Map (line, col) inside an expression string back to the YAML file.

    The parsed string is aligned with the raw scalar character by character (a short
    look-ahead skips indentation, quotes, escapes and folding), so positions stay exact for
    plain, quoted, literal and folded scalars alike.
    """
    start = span_of(entry, key)
    if src is None:
        return lambda line, col: start
    style = entry.value_styles.get(key) if isinstance(entry, LMap) else None
    text = str(entry.get(key, ""))
    raw_start = src.offset(start.line, start.col)
    if style in ("|", ">"):
        nl = src.text.find("\n", raw_start)
        raw_start = len(src.text) if nl < 0 else nl + 1
    elif style in ("'", '"'):
        raw_start += 1
    cache: list[list[int]] = []

    def offsets() -> list[int]:
        if not cache:
            raw = src.text
            out, i = [], raw_start
            for ch in text:
                j = raw.find(ch, i, i + 16)
                if j < 0:
                    out.append(i)
                else:
                    out.append(j)
                    i = j + 1
            out.append(i)
            cache.append(out)
        return cache[0]

    text_lines = text.split("\n")

    def pos(line: int, col: int) -> Span:
        k = sum(len(t) + 1 for t in text_lines[: line - 1]) + col - 1
        offs = offsets()
        line_no, col_no = src.position(offs[min(max(k, 0), len(offs) - 1)])
        return Span(start.file, line_no, col_no)
    return pos


def code_start(src: SourceFile | None, entry: LMap, key: str) -> tuple[int, int]:
    pos = expr_pos(src, entry, key)(1, 1)
    return pos.line, pos.col


def _strs(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [p.strip() for p in v.split("|") if p.strip()]
    return [str(x) for x in v]


class Lowerer:
    def __init__(self, src: SourceFile | None, diags: Collector) -> None:
        self.src, self.diags = src, diags
        # Conditions folded away while lowering (a constant arbitrary group): they never reach
        # the IR, but their values are still type-checked so dead code cannot hide an error.
        self.dead: list[A.Node] = []

    def recipe(self, e: LMap) -> Recipe:
        conds: list[A.Node] = []
        def sp(k: str) -> Span:
            return span_of(e, k)
        mech = str(e["mechanism"])
        conds.append(A.Cmp("event.mechanism", Op.IN, MECH_GATE[mech], sp("mechanism")))
        conds.extend(self._files(e))
        conds.extend(self._network(e))
        for gi, group in enumerate(e.get("arbitrary") or []):
            conds.append(self._group(group, span_of(e["arbitrary"], gi)))
        if "when" in e and e["when"] is not None:
            node = parse_expr(str(e["when"]), expr_pos(self.src, e, "when"), self.diags)
            conds.append(node if node is not None else A.FALSE)
        excs = tuple(self.exception(x, str(x["name"])) for x in e.get("exceptions") or [])
        reactions = tuple(self._reaction(r) for r in e.get("reactions") or [])
        times = tuple(TimesCap(str(t["kind"]), int(t["max"])) for t in e.get("times") or [])
        meta = tuple((k, str(e[k])) for k in META_KEYS if e.get(k) is not None)
        return Recipe(kind=str(e["kind"]), name=str(e["name"]), mechanism=mech,
                      condition=A.And(tuple(conds), e.span), exceptions=excs,
                      reactions=reactions, times=times,
                      enabled=e.get("enabled") is not False, mode=e.get("mode"),
                      prevent=e.get("prevent"),
                      prevent_span=sp("prevent") if e.get("prevent") else None,
                      meta=meta, span=e.span)

    def exception(self, x: LMap, name: str) -> Exception_:
        node = parse_expr(str(x["when"]), expr_pos(self.src, x, "when"), self.diags)
        return Exception_(name, node if node is not None else A.FALSE, x.span)

    def macro(self, x: LMap) -> A.Node:
        node = parse_expr(str(x["condition"]), expr_pos(self.src, x, "condition"), self.diags)
        return node if node is not None else A.FALSE

    def _reaction(self, r: LMap) -> Reaction:
        line, col = code_start(self.src, r, "code")
        return Reaction(str(r["format"]), str(r["code"]), r.span, line, col,
                           r.get("timeout_ms"), r.get("memory_mb"))

    def _files(self, e: LMap) -> list[A.Node]:
        out: list[A.Node] = []
        acts = expand_actions(_strs(e.get("file_actions")))
        if acts:
            s = span_of(e, "file_actions")
            if e.get("file_actions_how") == "all":
                out.append(A.And(tuple(A.Cmp("file.actions", Op.CONTAINS, a, s) for a in acts), s))
            else:
                out.append(A.Cmp("file.actions", Op.IN, acts, s))
        excl = expand_actions(_strs(e.get("file_actions_excl")))
        if excl:
            s = span_of(e, "file_actions_excl")
            out.append(A.Not(A.Cmp("file.actions", Op.IN, excl, s), s))
        items: list[tuple[Any, Span]] = []
        if any(k in e for k in ("base", "dir", "regex")):
            items.append((e, e.span))
        for i, b in enumerate(e.get("bases") or []):
            items.append((b, span_of(e["bases"], i)))
        alts = [n for n in (self._base_item(b, s) for b, s in items) if n is not None]
        if alts:
            out.append(alts[0] if len(alts) == 1 else A.Or(tuple(alts), alts[0].span))
        return out

    def _base_item(self, b: Any, s: Span) -> A.Node | None:
        parts: list[A.Node] = []
        if b.get("base") is not None:
            parts.append(A.Cmp("file.basename", Op.EQ, str(b["base"]), span_of(b, "base")))
        if b.get("dir") is not None:
            d = str(b["dir"]).rstrip("/") or "/"
            parts.append(A.Cmp("file.dir", Op.EQ, d, span_of(b, "dir")))
        if b.get("regex") is not None:
            parts.append(A.Cmp("file.file", Op.REGEX, f"^(?:{b['regex']})$", span_of(b, "regex")))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else A.And(tuple(parts), s)

    def _network(self, e: LMap) -> list[A.Node]:
        out: list[A.Node] = []
        doms = _strs(e.get("remote_domains"))
        if doms:
            s = span_of(e, "remote_domains")
            typ = e.get("remote_domains_type") or e.get("remote_domains_trie_type") or "exact"
            f = "flow.remote.names"
            if typ == "exact":
                out.append(A.Cmp(f, Op.IN, tuple(d.lower() for d in doms), s))
            elif typ == "prefix":
                out.append(_any_of([A.Cmp(f, Op.STARTSWITH, d.lower(), s) for d in doms], s))
            else:
                alts: list[A.Node] = [A.Cmp(f, Op.IN, tuple(d.lower().lstrip(".") for d in doms), s)]
                alts += [A.Cmp(f, Op.ENDSWITH, "." + d.lower().lstrip("."), s) for d in doms]
                out.append(A.Or(tuple(alts), s))
        for key, fld in (("remote_cidrs", "flow.remote.address"), ("local_cidrs", "flow.local.address")):
            cidrs = _strs(e.get(key))
            if cidrs:
                out.append(A.Cmp(fld, Op.IN, tuple(cidrs), span_of(e, key)))
        if e.get("protocol"):
            out.append(A.Cmp("flow.proto", Op.EQ, str(e["protocol"]), span_of(e, "protocol")))
        for key, fld in (("local_port", "flow.local.port"), ("remote_port", "flow.remote.port")):
            if e.get(key):
                out.append(A.Cmp(fld, Op.EQ, int(e[key]), span_of(e, key)))
        flows = _strs(e.get("flow_actions"))
        if flows:
            s = span_of(e, "flow_actions")
            if e.get("flow_actions_how") == "all":
                out.append(A.And(tuple(A.Cmp("flow.flags", Op.CONTAINS, f, s) for f in flows), s))
            else:
                out.append(A.Cmp("flow.flags", Op.IN, tuple(flows), s))
        excl = _strs(e.get("flow_actions_excl"))
        if excl:
            s = span_of(e, "flow_actions_excl")
            out.append(A.Not(A.Cmp("flow.flags", Op.IN, tuple(excl), s), s))
        return out

    def _group(self, g: LMap, s: Span) -> A.Node:
        """Jibril's arbitrary group: verdict = items' `which` if they match, else group `which`."""
        items = list(g.get("items") or [])
        whiches = {str(i["which"]) for i in items}
        if len(whiches) > 1:
            self.diags.add("JR024", "items of one arbitrary group must share the same 'which'",
                           span_of(g, "items"), "split the items into two groups")
        preds = [self._item(it, span_of(g["items"], k)) for k, it in enumerate(items)]
        matched: A.Node = (A.And if g["how"] == "AND" else A.Or)(tuple(preds), s) if preds else A.FALSE
        group_w = str(g["which"])
        item_w = whiches.pop() if len(whiches) == 1 else group_w
        if item_w == group_w:
            self.dead.append(matched)
            if preds:
                verdict = ("always passes, so it has no effect" if group_w == "pertinent"
                           else "always rejects, so the recipe can never match")
                self.diags.warn("JR025", f"this arbitrary group {verdict}: its items and the group "
                                f"are all '{group_w}'", s,
                                "give the group the opposite 'which' of its items, so that a "
                                "match of the items decides (see docs/recipes.md)")
            return A.Const(group_w == "pertinent", s)
        return matched if item_w == "pertinent" else A.Not(matched, s)

    def _item(self, it: LMap, s: Span) -> A.Node:
        fields = _WHAT_FIELDS[str(it["what"])]
        preds: list[A.Node] = []
        for f in fields:
            if it.get("pattern") is not None:
                preds.append(A.Cmp(f, Op.REGEX, str(it["pattern"]), span_of(it, "pattern")))
            elif it.get("number") is not None:
                op = {"smaller": Op.LT, "bigger": Op.GT}.get(str(it.get("when")), Op.EQ)
                preds.append(A.Cmp(f, op, int(it["number"]), span_of(it, "number")))
            elif it.get("numbers") is not None:
                preds.append(A.Cmp(f, Op.IN, tuple(int(n) for n in it["numbers"]),
                                   span_of(it, "numbers")))
            elif it.get("cidr") is not None:
                preds.append(A.Cmp(f, Op.IN, (str(it["cidr"]),), span_of(it, "cidr")))
            else:
                self.diags.add("JR023", "an arbitrary item needs pattern, number, numbers or cidr",
                               s, "add 'pattern: REGEX' to this item")
                return A.FALSE
        return _any_of(preds, s)


def _any_of(preds: list[A.Node], s: Span) -> A.Node:
    return preds[0] if len(preds) == 1 else A.Or(tuple(preds), s)
