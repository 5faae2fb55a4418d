"""What the no-argument network helpers read from a detection."""

from __future__ import annotations

from typing import Any


def event_remote_ips(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for node in _remote_nodes(data):
        addr = node.get("address")
        if isinstance(addr, str) and addr and addr not in out:
            out.append(addr)
    return out


def event_remote_domains(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for node in _remote_nodes(data):
        names = [node.get("name"), *(node.get("names") or [])]
        for name in names:
            if isinstance(name, str) and name and name not in out:
                out.append(name)
    return out


def event_domain_addresses(data: dict[str, Any], domain: str) -> list[str]:
    """Remote addresses the event saw under `domain` (what the sensor learned from DNS)."""
    out: list[str] = []
    want = domain.rstrip(".").lower()
    for node in _remote_nodes(data):
        names = [node.get("name"), *(node.get("names") or [])]
        addr = node.get("address")
        if (isinstance(addr, str) and addr and addr not in out
                and any(isinstance(n, str) and n.rstrip(".").lower() == want for n in names)):
            out.append(addr)
    return out


def _remote_nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    flow = data.get("flow")
    if isinstance(flow, dict) and isinstance(flow.get("remote"), dict):
        nodes.append(flow["remote"])
    for bg in (data.get("background"), (data.get("base") or {}).get("background")):
        flows = bg.get("flows") if isinstance(bg, dict) else None
        for proto in (flows or {}).get("protocols") or []:
            for pair in (proto or {}).get("pairs") or []:
                remote = ((pair or {}).get("nodes") or {}).get("remote")
                if isinstance(remote, dict):
                    nodes.append(remote)
    return nodes
