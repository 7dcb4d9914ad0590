"""The chaos suite's machinery on this machine: network namespaces with silent cuts, and small
file systems that fill up. Both need root; elsewhere they skip with the reason."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trio_zeebe.testing.chaos import netns, smallfs

# Listens on PORT in its namespace and answers each connection with "hi".
SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7000)); s.listen(); print("up", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hi"); c.close()
"""
CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], 7000), timeout=1.0) as c:
        print(c.recv(2).decode())
except OSError as exc:
    print(type(exc).__name__)
"""


@pytest.fixture
def lab() -> Iterator[netns.NetLab]:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(reason)
    lab = netns.NetLab(3)
    try:
        lab.open()
        yield lab
    finally:
        lab.close()


def connect(lab: netns.NetLab, source: int | None, target: int) -> str:
    prefix = [] if source is None else lab.exec_prefix(source)
    out = subprocess.run(
        [*prefix, sys.executable, "-c", CLIENT, lab.address(target)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip()


@pytest.mark.slow
def test_cuts_drop_packets_silently_one_way_and_heal(lab: netns.NetLab) -> None:
    servers = [
        subprocess.Popen(
            [*lab.exec_prefix(i), sys.executable, "-c", SERVER, lab.address(i)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        for s in servers:
            assert s.stdout is not None and s.stdout.readline().strip() == "up"
        assert connect(lab, 0, 1) == "hi"
        lab.cut(0, 1)  # packets from 0 to 1 are lost: 0 times out instead of being refused
        assert connect(lab, 0, 1) == "TimeoutError"
        assert connect(lab, 1, 0) == "TimeoutError"  # 1's SYN arrives; 0's answer is lost
        assert connect(lab, 0, 2) == "hi" and connect(lab, 2, 1) == "hi"
        assert connect(lab, None, 1) == "hi"  # the runner's clients are never cut off
        lab.heal()
        assert connect(lab, 0, 1) == "hi"
        lab.partition([[0], [1, 2]])
        assert connect(lab, 2, 0) == "TimeoutError" and connect(lab, 1, 2) == "hi"
        lab.heal()
        assert connect(lab, 2, 0) == "hi"
    finally:
        for s in servers:
            s.kill()
            s.wait()


def test_closing_removes_every_namespace(lab: netns.NetLab) -> None:
    names = [lab.namespace(i) for i in range(3)]
    assert set(names) <= set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    )
    lab.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not set(names) & set(listed.split())


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[smallfs.SmallDisk]:
    reason = smallfs.unavailable()
    if reason is not None:
        pytest.skip(reason)
    disk = smallfs.SmallDisk(tmp_path / "img", tmp_path / "mnt", 16 * 1024 * 1024)
    try:
        disk.open()
        yield disk
    finally:
        disk.close()


def test_a_filled_disk_refuses_writes_until_freed(disk: smallfs.SmallDisk) -> None:
    (disk.mount_point / "before").write_bytes(b"x" * 4096)
    assert disk.fill() > 8 * 1024 * 1024
    assert disk.free_bytes() < 1024 * 1024  # ext4 keeps a few blocks no one may use
    with pytest.raises(OSError) as info, (disk.mount_point / "log").open("wb") as f:
        f.write(b"y" * 65536)
        f.flush()
    assert info.value.errno == errno.ENOSPC
    disk.free()
    assert disk.free_bytes() > 8 * 1024 * 1024
    (disk.mount_point / "after").write_bytes(b"z" * 65536)
    assert (disk.mount_point / "before").read_bytes() == b"x" * 4096
