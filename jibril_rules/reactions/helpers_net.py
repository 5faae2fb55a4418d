"""The network helpers: NetBlockIp, NetBlockIpTimer, NetUnblockIp, NetBlockDomain."""

from __future__ import annotations

from typing import Any

from .datastore import js_string
from .eventinfo import event_domain_addresses, event_remote_domains, event_remote_ips
from .helper_state import HelperFailure, HelperState
from .netpolicy import MAX_TARGETS_PER_CALL, NetError, resolve


class NetHelpers(HelperState):
    """The network helpers: NetBlockIp, NetBlockIpTimer, NetUnblockIp, NetBlockDomain."""

    # -- network ---------------------------------------------------------------------
    def _net_ready(self) -> None:
        reason = self.s.net.unavailable_reason()
        if reason:
            raise HelperFailure(reason)

    def _block_many(self, targets: list[str], timeout_s: int | None = None) -> int:
        results: list[int] = []
        errors: list[str] = []
        if len(targets) > MAX_TARGETS_PER_CALL:
            errors.append(f"{len(targets)} addresses: only the first {MAX_TARGETS_PER_CALL} "
                          "are blocked in one call")
            targets = targets[:MAX_TARGETS_PER_CALL]
        for ip in targets:
            try:
                self.s.net.check_target(ip)
                self.s.net.charge()
                if self.monitor:
                    results.append(0)
                else:
                    results.append(self.s.net.block(ip, timeout_s))
            except NetError as exc:
                errors.append(str(exc))
        self._dry = self.monitor and 0 in results
        if errors:
            raise HelperFailure("; ".join(errors))
        return 0 if 0 in results else 1

    def h_NetBlockIp(self, args: list[Any]) -> Any:
        self._net_ready()
        targets = [js_string(args[0])] if args and args[0] not in (None, "") else \
            event_remote_ips(self.data)
        if not targets:
            raise HelperFailure("the event has no remote address to block", 1)
        return self._block_many(targets)

    def h_NetBlockIpTimer(self, args: list[Any]) -> Any:
        self._net_ready()
        if len(args) < 2:
            raise HelperFailure("NetBlockIpTimer needs an ip and a duration in seconds")
        try:
            secs = int(float(args[1]))
        except (TypeError, ValueError):
            raise HelperFailure(f"invalid duration {args[1]!r}") from None
        if secs <= 0:
            raise HelperFailure("the duration must be positive")
        return self._block_many([js_string(args[0])], secs)

    def h_NetUnblockIp(self, args: list[Any]) -> Any:
        self._net_ready()
        if not args:
            raise HelperFailure("NetUnblockIp needs an ip")
        try:
            if self.monitor:
                self._dry = True
                return 0
            return self.s.net.unblock(js_string(args[0]))
        except NetError as exc:
            raise HelperFailure(str(exc)) from None

    def h_NetBlockDomain(self, args: list[Any]) -> Any:
        self._net_ready()
        domains = [js_string(args[0])] if args and args[0] not in (None, "") else \
            event_remote_domains(self.data)
        if not domains:
            raise HelperFailure("the event has no remote domain to block", 1)
        addrs: list[str] = []
        errors: list[str] = []
        for domain in domains:
            if not self.monitor:
                self.s.net.block_domain(domain)  # addresses it resolves to later, too
            # the addresses the event saw under the name (what Jibril's DNS tracking blocks),
            # then what it resolves to now
            addrs.extend(a for a in event_domain_addresses(self.data, domain) if a not in addrs)
            try:
                addrs.extend(a for a in resolve(domain) if a not in addrs)
            except NetError as exc:
                errors.append(str(exc))
        if not addrs:
            if self.monitor:
                self._dry = True
                return 0
            if errors and not self.s.net.domains:
                raise HelperFailure("; ".join(errors))
            self.errno = "; ".join(errors)
            return 0  # nothing resolves now: blocked as soon as an answer names an address
        return self._block_many(addrs)
