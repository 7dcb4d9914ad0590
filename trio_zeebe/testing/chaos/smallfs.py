"""Broker data directories on small file systems of their own, and a filler that fills one.

As root each broker's data directory is a loop-mounted ext4 image (sparse, ``-m 0``: no blocks
reserved for root, so "full" means full for the broker too). :meth:`SmallDisk.fill` allocates
every free block to a filler file; :meth:`SmallDisk.free` removes it. Elsewhere the fault kind
is skipped with the reason from :func:`unavailable`.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

FILLER = "chaos-filler.bin"
CHUNK = 1 << 20


class DiskSetupError(RuntimeError):
    pass


def unavailable() -> str | None:
    """Why small loop-mounted file systems cannot be made here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "a size-limited file system needs root (loop mount)"
    for tool in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control is missing)"
    return None


def _run(*argv: str) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DiskSetupError(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")


class SmallDisk:
    """An ext4 image of ``size_bytes`` mounted at ``mount_point`` (the broker's data dir)."""

    def __init__(self, image: Path, mount_point: Path, size_bytes: int) -> None:
        self.image = image
        self.mount_point = mount_point
        self.size_bytes = size_bytes
        self.mounted = False

    @property
    def filler(self) -> Path:
        return self.mount_point / FILLER

    def open(self) -> None:
        self.image.parent.mkdir(parents=True, exist_ok=True)
        self.mount_point.mkdir(parents=True, exist_ok=True)
        with self.image.open("wb") as f:
            f.truncate(self.size_bytes)
        _run("mkfs.ext4", "-q", "-F", "-m", "0", str(self.image))
        _run("mount", "-o", "loop", str(self.image), str(self.mount_point))
        self.mounted = True
        (self.mount_point / "lost+found").rmdir()  # the broker expects its own files only

    def close(self) -> None:
        if self.mounted:
            # A broker killed a moment ago may still hold files open: retry briefly, then lazy.
            try:
                _run("umount", str(self.mount_point))
            except DiskSetupError:
                _run("umount", "-l", str(self.mount_point))
            self.mounted = False
        # The image stays: a failed run keeps it (mount it to read the broker's data); a
        # passing run's directory is removed with it.

    def free_bytes(self) -> int:
        st = os.statvfs(self.mount_point)
        return st.f_bfree * st.f_frsize

    def fill(self) -> int:
        """Take every free block (blocking: run it in a thread); the filler's size."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            free = self.free_bytes()
            if free > 2 * CHUNK:
                try:
                    os.posix_fallocate(fd, os.fstat(fd).st_size, free - CHUNK)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
            # The last blocks one by one, then whatever part of a block is left.
            for size in (CHUNK, 4096, 512, 1):
                block = b"\0" * size
                while True:
                    try:
                        os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
            os.fsync(fd)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
        os.sync()
