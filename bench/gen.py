"""Generate realistic recipe sets and event streams for the benchmarks."""

from __future__ import annotations

import random
from typing import Any


def recipes_yaml(n: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        k = i % 5
        if k == 0:
            body = (f"  mechanism: file_access\n  file_actions: [modify_related]\n"
                    f"  bases: [{{dir: /etc/app{i}, base: conf{i}.yaml}}]\n")
        elif k == 1:
            body = (f"  mechanism: execution\n  file_actions: [execve]\n  bases: [{{base: tool{i}}}]\n"
                    f"  when: process.args regex \"--token=[a-z]{{8}}\"\n")
        elif k == 2:
            body = (f"  mechanism: file_access\n  file_actions: [read]\n"
                    f"  bases: [{{regex: /srv/data{i}/.*\\\\.key}}]\n"
                    f"  arbitrary:\n    - how: AND\n      which: pertinent\n      items:\n"
                    f"        - {{what: exe, which: irrelevant, pattern: (sshd|vault)}}\n")
        elif k == 3:
            body = (f"  mechanism: network_peers\n  remote_port: {10000 + i}\n  protocol: tcp\n"
                    f"  remote_cidrs: [198.18.{i % 250}.0/24]\n")
        else:
            body = (f"  mechanism: execution\n"
                    f"  when: process.exe == \"/opt/vendor{i}/bin/agent\" and parent.comm in (\"bash\", \"sh\")\n")
        out.append(f"- kind: gen_{k}\n  name: gen_{i}\n  importance: {rnd.choice(['low', 'high'])}\n{body}")
    return "".join(out)


def events(n: int, n_recipes: int, seed: int = 2, match_every: int = 1000) -> list[dict[str, Any]]:
    """Mostly ordinary system activity; one event in `match_every` hits a recipe."""
    rnd = random.Random(seed)
    paths = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/status",
             "/home/u/project/main.py", "/var/log/syslog", "/tmp/build/obj.o", "/etc/hosts"]
    exes = ["/usr/bin/ls", "/usr/bin/git", "/usr/bin/python3", "/bin/bash", "/usr/bin/make"]
    out: list[dict[str, Any]] = []
    anc = [{"pid": 1, "comm": "systemd", "exe": "/sbin/init"}, {"pid": 900, "comm": "bash", "exe": "/bin/bash"}]
    for j in range(n):
        proc = {"pid": 1000 + j % 5000, "ppid": 900, "uid": 1000, "comm": "python3",
                "exe": rnd.choice(exes), "cmd": "python3 x.py", "args": "x.py"}
        r = j % 10
        hit = j % match_every == 0
        i = rnd.randrange(max(n_recipes, 1))
        if r < 7:
            path = f"/etc/app{i - i % 5}/conf{i - i % 5}.yaml" if hit else rnd.choice(paths)
            ev = {"mechanism": "file_access", "file": {"file": path, "actions": [rnd.choice(["open", "read", "write", "close"])] if not hit else ["write"]}}
        elif r < 9:
            exe = f"/usr/local/bin/tool{i - i % 5 + 1}" if hit else rnd.choice(exes)
            ev = {"mechanism": "execution", "file": {"file": exe, "actions": ["execve"]}}
            proc = dict(proc, exe=exe, args="--token=abcdefgh" if hit else "-la")
        else:
            port = 10000 + i - i % 5 + 3 if hit else rnd.choice([443, 80, 53, 22])
            ev = {"mechanism": "network_peers", "flow": {"proto": "tcp", "ip_version": 4,
                  "local": {"address": "10.0.0.2", "port": 40000 + j % 2000},
                  "remote": {"address": f"198.18.{(i - i % 5 + 3) % 250}.9" if hit else "93.184.216.34",
                             "port": port, "names": []}}}
        ev.update({"uuid": f"e{j}", "timestamp": "2026-11-22T10:00:00Z", "process": proc,
                   "background": {"ancestry": anc + [proc]}})
        out.append(ev)
    return out
