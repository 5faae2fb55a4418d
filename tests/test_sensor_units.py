"""Pure-Python parts of the sensor (no root): DNS parsing, flow phase, the shipped recording."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from jibril_rules.core.vocab import FLOW_FLAG_BIT
from jibril_rules.sensor.flows import DnsCache, addr_str, parse_dns_answers, phase
from jibril_rules.sensor.layout import flags_of

DATA = Path(__file__).parent / "data" / "recording.jsonl"


def _qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def _response() -> bytes:
    hdr = struct.pack("!6H", 0x1234, 0x8180, 1, 3, 0, 0)
    q = _qname("pool.example.com") + struct.pack("!HH", 1, 1)
    cname = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, len(_qname("edge.cdn.net"))) + \
        _qname("edge.cdn.net")
    a = _qname("edge.cdn.net") + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([198, 51, 100, 7])
    aaaa = b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 60, 16) + bytes(15) + b"\x01"
    return hdr + q + cname + a + aaaa


def test_dns_answers_with_cname_chain() -> None:
    pairs = parse_dns_answers(_response())
    assert ("198.51.100.7", "edge.cdn.net") in pairs
    assert ("198.51.100.7", "pool.example.com") in pairs
    assert ("::1", "pool.example.com") in pairs
    cache = DnsCache()
    cache.feed(_response())
    assert cache.lookup("198.51.100.7")[0] == "pool.example.com"


def test_dns_rejects_queries_and_garbage() -> None:
    q = bytearray(_response())
    q[2] &= 0x7F  # QR bit clear: a query
    assert parse_dns_answers(bytes(q)) == []
    assert parse_dns_answers(b"\x00" * 5) == []
    assert parse_dns_answers(_response()[:40]) == []


def test_phase_and_addresses() -> None:
    bits = sum(1 << FLOW_FLAG_BIT[f] for f in ("egress", "ingress", "outgoing", "ended",
                                               "terminator", "started"))
    assert phase(flags_of(bits)) == {"direction": "both", "initiated_by": "local",
                                     "status": "ended", "ended_by": "local"}
    assert addr_str(10, bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])) == (4, "10.0.0.1")
    assert addr_str(2, bytes([127, 0, 0, 1]) + bytes(12)) == (4, "127.0.0.1")


def test_shipped_recording_is_raw_schema() -> None:
    events = [json.loads(line) for line in DATA.read_text().splitlines()]
    assert DATA.stat().st_size < 300_000
    mechs = {e["mechanism"] for e in events}
    assert mechs == {"file_access", "execution", "network_peers"}
    for e in events:
        assert e["background"]["ancestry"][-1]["pid"] == e["process"]["pid"]
        if e["mechanism"] == "network_peers":
            assert e["flow"]["remote"]["port"] > 0
        else:
            assert e["file"]["file"].startswith("/") and isinstance(e["file"]["actions"], list)
    assert any(e["mechanism"] == "execution" and e["file"]["basename"] == "xmrig" for e in events)
