"""Network namespaces for the brokers, and the cuts between them (root only).

Each broker runs in a namespace of its own (``ip netns exec``) with one veth pair to a bridge in
the runner's namespace; the bridge has the subnet's ``.254`` address, so the runner's clients
reach every gateway directly and are never cut off. Addresses come from a private /24 that no
interface of this machine uses yet (``10.237.X.0/24``): traffic stays between namespaces this
run created.

A cut drops packets silently, as a failed switch does (the sender sees timeouts, not errors):
a policy rule ``from <peer> blackhole`` in the receiving namespace, placed before the ``local``
table so it also applies to packets addressed to the namespace itself. ``cut(a, b)`` loses the
packets from ``a`` to ``b`` only (one-way loss); :meth:`NetLab.partition` cuts both ways between
groups. Only ``ip`` (iproute2) is needed: this kernel has no netem and no tc drop action, and
iptables/nft may not be installed, while policy routing is always there.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

SUBNET_PREFIX = "10.237"
CUT_PRIORITY = 100  # before the "local" table, which moves to LOCAL_PRIORITY
LOCAL_PRIORITY = 1000


class NetError(RuntimeError):
    """An ``ip`` command failed (the message names it and its stderr)."""


def unavailable() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    probe = f"tzc-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except NetError as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        _ip("netns", "del", probe)
    except NetError:
        pass
    return None


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result.stdout


class NetLab:
    """The namespaces, veths and bridge of one chaos run; :meth:`close` removes them all."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.subnet = -1
        self.cuts: set[tuple[int, int]] = set()  # (from, to): packets from -> to are dropped
        self._made_bridge = False
        self._made: list[str] = []

    # -- names ----------------------------------------------------------------------------

    @property
    def bridge(self) -> str:
        return f"tzc{self.subnet}br"

    def namespace(self, node: int) -> str:
        return f"tzc{self.subnet}-{node}"

    def address(self, node: int) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.{node + 1}"

    @property
    def host_address(self) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.254"

    def exec_prefix(self, node: int) -> list[str]:
        return ["ip", "netns", "exec", self.namespace(node)]

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        # Concurrent runs on one machine must not pick the same subnet.
        lock_path = Path(tempfile.gettempdir()) / "trio_zeebe_chaos_netns.lock"
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.subnet = self._free_subnet()
            _ip("link", "add", self.bridge, "type", "bridge")
            self._made_bridge = True
            _ip("addr", "add", f"{self.host_address}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        for node in range(self.size):
            self._add_node(node)

    def _free_subnet(self) -> int:
        used = _ip("-o", "-4", "addr", "show")
        names = _ip("-o", "link", "show")
        first = 1 + os.getpid() % 200
        for x in list(range(first, 251)) + list(range(1, first)):
            taken = re.search(rf" tzc{x}(br|h\d+|n\d+)[:@]", names)
            if f" {SUBNET_PREFIX}.{x}." not in used and taken is None:
                return x
        raise NetError(f"no free {SUBNET_PREFIX}.X.0/24 subnet")

    def _add_node(self, node: int) -> None:
        ns, host_end, ns_end = self.namespace(node), f"tzc{self.subnet}h{node}", "eth0"
        _ip("netns", "add", ns)
        self._made.append(ns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", f"tzc{self.subnet}n{node}")
        _ip("link", "set", f"tzc{self.subnet}n{node}", "netns", ns)
        _ip("-n", ns, "link", "set", f"tzc{self.subnet}n{node}", "name", ns_end)
        _ip("link", "set", host_end, "master", self.bridge, "up")
        _ip("-n", ns, "addr", "add", f"{self.address(node)}/24", "dev", ns_end)
        _ip("-n", ns, "link", "set", ns_end, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        # Cut rules must see packets addressed to this namespace too: move "local" after them.
        _ip("-n", ns, "rule", "add", "from", "all", "lookup", "local", "prio", str(LOCAL_PRIORITY))
        _ip("-n", ns, "rule", "del", "prio", "0")

    def close(self) -> None:
        """Remove everything this lab made."""
        for node in range(len(self._made)):
            try:  # at once: a namespace's veths go some time after the namespace
                _ip("link", "del", f"tzc{self.subnet}h{node}")
            except NetError:
                pass
        for ns in self._made:
            try:
                _ip("netns", "del", ns)
            except NetError:
                pass
        self._made.clear()
        if self._made_bridge:
            try:
                _ip("link", "del", self.bridge)
            except NetError:
                pass
            self._made_bridge = False

    # -- faults ----------------------------------------------------------------------------

    def cut(self, source: int, target: int) -> None:
        """Drop every packet from ``source`` to ``target`` (one direction)."""
        if (source, target) in self.cuts:
            return
        _ip(
            "-n",
            self.namespace(target),
            "rule",
            "add",
            "from",
            f"{self.address(source)}/32",
            "blackhole",
            "prio",
            str(CUT_PRIORITY),
        )
        self.cuts.add((source, target))

    def partition(self, groups: Sequence[Iterable[int]]) -> None:
        """Cut both ways between every two groups (a node in no group keeps all its links)."""
        sets = [set(g) for g in groups]
        for i, a in enumerate(sets):
            for b in sets[i + 1 :]:
                for x in a:
                    for y in b:
                        self.cut(x, y)
                        self.cut(y, x)

    def heal(self) -> None:
        for source, target in sorted(self.cuts):
            try:
                _ip(
                    "-n",
                    self.namespace(target),
                    "rule",
                    "del",
                    "from",
                    f"{self.address(source)}/32",
                    "blackhole",
                    "prio",
                    str(CUT_PRIORITY),
                )
            except NetError:
                pass  # the namespace is gone already
        self.cuts.clear()
