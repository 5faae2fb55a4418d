"""Floors of knet's mechanisms, measured side by side (root; interleaved rounds, min and median).

- marks: a C loop of openat+close on an unwatched file, with no marks vs. fanotify marks on
  200 watched files and a directory (plus one permission mark) elsewhere on the same filesystem
- marks, watched: the same loop on a file inside a watched directory (events to userspace)
- cgroup_net: a C loop of connect() on a UDP socket (the connect4 program runs every time,
  no packet is sent), with no programs vs. the cgroup programs with 200 CIDR entries and a
  deny rule; and a getppid loop (non-network syscalls pay nothing)

    sudo python3 bench/bench_net_file.py [--rounds 5] [--n 200000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LOOP_C = r"""
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]);
    if (argv[1][0] == 'o') {
        for (long i = 0; i < n; i++) { int fd = open(argv[3], O_RDONLY); if (fd >= 0) close(fd); }
    } else if (argv[1][0] == 'c') {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a; memset(&a, 0, sizeof a);
        a.sin_family = AF_INET; a.sin_port = htons(9); a.sin_addr.s_addr = htonl(0x7f000001);
        for (long i = 0; i < n; i++) connect(s, (struct sockaddr *)&a, sizeof a);
    } else {
        for (long i = 0; i < n; i++) getppid();
    }
    return 0;
}
"""


def child_cpu(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(name: str, cmd: list[str], setup: Callable[[], Callable[[], None]], rounds: int,
            n: int) -> None:
    base: list[float] = []
    with_m: list[float] = []
    for _ in range(rounds):  # interleaved: base, mechanism, base, mechanism ...
        base.append(child_cpu(cmd))
        teardown = setup()
        try:
            with_m.append(child_cpu(cmd))
        finally:
            teardown()
    ratios = sorted(w / b for w, b in zip(with_m, base, strict=True) if b > 0)
    extra = sorted((w - b) / n * 1e9 for w, b in zip(with_m, base, strict=True))
    print(f"{name:58s} ratio min {ratios[0]:.3f} median {statistics.median(ratios):.3f}  "
          f"extra ns/iter min {extra[0]:+.0f} median {statistics.median(extra):+.0f}  "
          f"(base {min(base) / n * 1e9:.0f} ns/iter)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=200000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_net_file: needs root")
    from jibril_rules.core.kernel_tables import KernelTables
    from jibril_rules.core.vocab import action_mask
    from jibril_rules.sensor.cgroupnet import CgroupNet, NetDenyRule
    from jibril_rules.sensor.fanotify import DenyFile, FanotifyWatch, MarkPlan
    tmp = Path(tempfile.mkdtemp(prefix="bench-knet-"))
    src = tmp / "loop.c"
    src.write_text(LOOP_C)
    exe = tmp / "loop"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
    unwatched = tmp / "unwatched"
    unwatched.write_text("x")
    wdir = tmp / "watched"
    wdir.mkdir()
    files = []
    for i in range(200):
        f = wdir / f"f{i}"
        f.write_text("x")
        files.append(f)
    inside = tmp / "dir"
    inside.mkdir()
    (inside / "hot").write_text("x")
    opens = action_mask(["open", "write"])

    def marks(plan: MarkPlan) -> Callable[[], Callable[[], None]]:
        def setup() -> Callable[[], None]:
            fw = FanotifyWatch(lambda *x: None)
            fw.start(plan)
            import threading
            stop = threading.Event()
            th = threading.Thread(target=lambda: [fw.poll(50) for _ in iter(stop.is_set, True)],
                                  daemon=True)
            th.start()

            def down() -> None:
                stop.set()
                th.join(2)
                fw.close()
            return down
        return setup

    plan200 = MarkPlan(exact=tuple((str(f), opens) for f in files),
                       dirs=((f"{inside}/", opens),),
                       deny=(DenyFile("bench", (str(files[0]),)),))
    print(f"kernel {os.uname().release}, {a.rounds} interleaved rounds of {a.n} iterations, "
          "child CPU time")
    compare("marks: open+close of an unwatched file, 200 file marks", [str(exe), "o", str(a.n),
            str(unwatched)], marks(plan200), a.rounds, a.n)
    compare("marks: open+close of a file in a watched dir (to userspace)",
            [str(exe), "o", str(a.n), str(inside / "hot")], marks(plan200), a.rounds, a.n)

    def cgnet(tables: KernelTables, deny: tuple[NetDenyRule, ...]) -> Callable[[], Callable[[], None]]:
        def setup() -> Callable[[], None]:
            net = CgroupNet(tables, lambda k, r: None)
            net.deny = deny
            net.start()
            return net.close
        return setup

    t200 = KernelTables(net_remote_cidrs=tuple(f"10.{i // 250}.{i % 250}.0/24" for i in range(200)))
    deny = (NetDenyRule("bench", cidrs=("192.0.2.0/24",), ports=(4444,)),)
    compare("cgroup_net: UDP connect(), 200 CIDRs + a deny rule, no match",
            [str(exe), "c", str(a.n)], cgnet(t200, deny), a.rounds, a.n)
    compare("cgroup_net: getppid() (non-network syscall)", [str(exe), "g", str(a.n * 5)],
            cgnet(t200, deny), a.rounds, a.n * 5)


if __name__ == "__main__":
    main()
