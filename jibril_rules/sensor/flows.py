"""Flows: address formatting, flags/phase, per-process flow history, DNS-learned names."""

from __future__ import annotations

import ipaddress
import struct
from collections import OrderedDict
from typing import Any

from . import layout as L

AF_INET, AF_INET6 = 2, 10
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
MAX_NAMES = 8
MAX_CACHE = 16384
MAX_FLOWS_PER_PROC = 64
# the local address of a connect() seen before the kernel picked a source address and port
UNBOUND = ("0.0.0.0", "::")


def addr_str(family: int, raw: bytes) -> tuple[int, str]:
    """(ip_version, text); v4-mapped IPv6 addresses become IPv4 (as the kernel filter does)."""
    if family == AF_INET:
        return 4, str(ipaddress.IPv4Address(raw[:4]))
    a = ipaddress.IPv6Address(raw[:16])
    if a.ipv4_mapped is not None:
        return 4, str(a.ipv4_mapped)
    return 6, str(a)


def phase(flags: dict[str, bool]) -> dict[str, str]:
    """jibril.md §1: phase derived from the flags."""
    if flags["ingress"] and flags["egress"]:
        direction = "both"
    else:
        direction = "ingress" if flags["ingress"] else "egress" if flags["egress"] else ""
    initiated = "local" if flags["outgoing"] else "remote" if flags["incoming"] else ""
    status = "ended" if flags["ended"] else "ongoing" if flags["ongoing"] else (
        "started" if flags["started"] else "")
    ended_by = "local" if flags["terminator"] else "remote" if flags["terminated"] else ""
    return {"direction": direction, "initiated_by": initiated, "status": status,
            "ended_by": ended_by}


class DnsCache:
    """IP address -> names, learned from the DNS answers the host receives."""

    def __init__(self) -> None:
        self.names: OrderedDict[str, list[str]] = OrderedDict()

    def lookup(self, addr: str) -> list[str]:
        return list(self.names.get(addr, ()))

    def learn(self, addr: str, name: str) -> None:
        cur = self.names.pop(addr, [])
        if name in cur:
            cur.remove(name)
        cur.insert(0, name)
        self.names[addr] = cur[:MAX_NAMES]
        while len(self.names) > MAX_CACHE:
            self.names.popitem(last=False)

    def feed(self, payload: bytes) -> list[tuple[str, str]]:
        """Parse one DNS response; learn and return its (address, name) pairs."""
        pairs = parse_dns_answers(payload)
        for addr, name in pairs:
            self.learn(addr, name)
        return pairs


def _name(msg: bytes, off: int) -> tuple[str, int]:
    """Decode a (possibly compressed) name at off; returns (name, offset after it)."""
    labels: list[str] = []
    end = -1
    for _ in range(128):
        if off >= len(msg):
            raise ValueError("truncated name")
        n = msg[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg):
                raise ValueError("truncated pointer")
            if end < 0:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            continue
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    else:
        raise ValueError("name loop")
    return ".".join(labels).lower(), (end if end >= 0 else off)


def parse_dns_answers(msg: bytes) -> list[tuple[str, str]]:
    """A/AAAA answers of a DNS response as (address, name) pairs; CNAME chains resolved
    to the queried name (both the CNAME target and the original name are returned)."""
    if len(msg) < 12:
        return []
    _id, flags, qd, an, _ns, _ar = struct.unpack("!6H", msg[:12])
    if not flags & 0x8000 or an == 0:
        return []
    off = 12
    try:
        for _ in range(qd):
            _q, off = _name(msg, off)
            off += 4
        alias: dict[str, str] = {}
        out: list[tuple[str, str]] = []
        for _ in range(min(an, 64)):
            name, off = _name(msg, off)
            if off + 10 > len(msg):
                break
            rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            rdata = msg[off:off + rdlen]
            if rtype == 5:  # CNAME: target -> alias name
                target, _ = _name(msg, off)
                alias[target] = name
            elif rtype == 1 and rdlen == 4:
                out.append((str(ipaddress.IPv4Address(rdata)), name))
            elif rtype == 28 and rdlen == 16:
                out.append((str(ipaddress.IPv6Address(rdata)), name))
            off += rdlen
    except (ValueError, struct.error):
        return []
    full: list[tuple[str, str]] = []
    for addr, name in out:
        chain = [name]
        while chain[-1] in alias and alias[chain[-1]] not in chain:
            chain.append(alias[chain[-1]])
        for n in chain:  # learned last = first in the names list: the queried name
            full.append((addr, n))
    return full


class FlowBook:
    """Per-process flow history, rendered as background.flows."""

    def __init__(self) -> None:
        self.by_pid: dict[int, OrderedDict[tuple[Any, ...], dict[str, Any]]] = {}

    def add(self, pid: int, flow: dict[str, Any]) -> None:
        book = self.by_pid.setdefault(pid, OrderedDict())
        loc, rem = flow["local"], flow["remote"]
        key = (flow["proto"], loc["address"], loc["port"], rem["address"], rem["port"])
        book.pop(key, None)
        # one entry per connection: the bound one replaces the one from before connect() picked
        # a source address, and an unbound one is not added next to a bound one (either order)
        if loc["port"]:
            for unbound in UNBOUND:
                book.pop((flow["proto"], unbound, 0, rem["address"], rem["port"]), None)
        elif any(k[0] == flow["proto"] and k[3:] == key[3:] and k[2] for k in book):
            return
        book[key] = flow
        while len(book) > MAX_FLOWS_PER_PROC:
            book.popitem(last=False)

    def drop(self, pid: int) -> None:
        self.by_pid.pop(pid, None)

    def background(self, pid: int) -> dict[str, Any]:
        book = self.by_pid.get(pid)
        if not book:
            return {}
        version = 4
        protos: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        for f in book.values():
            version = f["ip_version"]
            pairs = protos.setdefault(f["proto"], {})
            loc, rem = f["local"], f["remote"]
            pair = pairs.setdefault((loc["address"], rem["address"]), {
                "nodes": {"local": {"address": loc["address"], "name": loc["name"],
                                    "names": list(loc["names"])},
                          "remote": {"address": rem["address"], "name": rem["name"],
                                     "names": list(rem["names"])}},
                "port_matrix": []})
            pair["port_matrix"].append({"src_port": loc["port"], "dst_port": rem["port"],
                                        "phase": dict(f["phase"])})
        return {"ip_version": version, "protocols": [
            {"proto": p, "pairs": list(pairs.values())} for p, pairs in protos.items()]}


def flow_json(ev: L.FlowEvent, dns: DnsCache) -> dict[str, Any]:
    ver, laddr = addr_str(ev.family, bytes(ev.laddr))
    _, raddr = addr_str(ev.family, bytes(ev.raddr))
    flags = L.flags_of(ev.flags)
    names = dns.lookup(raddr)
    lnames = dns.lookup(laddr)
    service = ev.lport if flags["incoming"] else ev.rport
    return {
        "ip_version": ver, "proto": PROTO_NAMES.get(ev.proto, str(ev.proto)),
        "local": {"address": laddr, "port": ev.lport, "name": lnames[0] if lnames else "",
                  "names": lnames},
        "remote": {"address": raddr, "port": ev.rport, "name": names[0] if names else "",
                   "names": names},
        "service_port": service,
        "flags": {k: v for k, v in flags.items() if k != "created"},
        "phase": phase(flags),
    }
