"""NetBlockIp / NetBlockIpTimer really block TCP, inside a network namespace we create.

Safety: every nft command runs through `ip netns exec <our namespace>`; the namespace (and
with it the nftables table) is deleted in `finally`. The host's rules are never touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time

import pytest
from test_reactions_support import js, make_event, make_runtime, recipe

ADDR = "10.203.77.1"
PORT = 18080


def _need_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.skip(f"{tool} is not installed")


def _sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=10)


def _connects(ns: str) -> bool:
    code = ("import socket,sys\ns=socket.socket();s.settimeout(0.7)\n"
            f"try:\n s.connect(('{ADDR}',{PORT}));sys.exit(0)\nexcept OSError:\n sys.exit(1)")
    res = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                         capture_output=True, timeout=10)
    return res.returncode == 0


@pytest.fixture()
def netns():
    _need_root_and_tools()
    ns = "jr-test-" + secrets.token_hex(4)
    listener = None
    try:
        try:
            _sh("ip", "netns", "add", ns)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot create a network namespace: {exc.stderr!r}")
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        # a non-loopback address on the namespace's own lo: traffic to it still crosses
        # the output and input hooks, and no kernel module (dummy, veth) is needed
        _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ADDR}/32", "dev", "lo")
        server = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                  f"s.bind(('{ADDR}',{PORT}));s.listen(64)\nwhile True:\n c,_=s.accept();c.close()")
        listener = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", server])
        for _ in range(50):
            if _connects(ns):
                break
            time.sleep(0.1)
        else:
            pytest.skip("listener in the namespace did not come up")
        yield ns
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_block_unblock_and_timer_in_netns(tmp_path, netns) -> None:
    rt = make_runtime(tmp_path, mode="enforce", netpolicy=True, net_netns=netns,
                      net_table="jr_test")
    try:
        def run(code, **ev):
            rec = rt.run_now(recipe("net"), [js(code)], make_event(**ev))[0]
            assert rec.status == "ok", rec.error
            return rec

        rec = run(f'function process(d) {{ Info(NetBlockIp("{ADDR}"), NetBlockIp("{ADDR}")) }}')
        assert rec.logs == ("INFO: 0 1",)
        assert not _connects(netns)
        rec = run(f'function process(d) {{ Info(NetUnblockIp("{ADDR}"), NetUnblockIp("{ADDR}")) }}')
        assert rec.logs == ("INFO: 0 1",)
        assert _connects(netns)

        # no argument: the event's remote addresses
        rec = run("function process(d) { Info(NetBlockIp()) }", remote=ADDR)
        assert rec.logs == ("INFO: 0",) and not _connects(netns)
        run(f'function process(d) {{ NetUnblockIp("{ADDR}") }}')
        assert _connects(netns)

        # timer: blocked now, open again after 2 s (per-element timeout in the nft set)
        rec = run(f'function process(d) {{ Info(NetBlockIpTimer("{ADDR}", 2)) }}')
        assert rec.logs == ("INFO: 0",)
        assert not _connects(netns)
        time.sleep(2.3)
        assert _connects(netns)

        # allowlist and domains: localhost resolves (via /etc/hosts) to loopback: refused
        rec = run('function process(d) { Info(NetBlockIp("127.0.0.1"), NetBlockDomain("localhost"), Errno()) }')
        assert rec.logs[0].startswith("INFO: -1 -1 refusing to block")
        table = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "inet",
                                "jr_test"], capture_output=True, text=True, timeout=10)
        assert "block4" in table.stdout and "hook output" in table.stdout
    finally:
        rt.close()
