"""SimDisk: an in-memory :class:`~trio_zeebe.disk.Disk` that can lose power.

It separates durable from volatile state the way a real file system does:

* file contents: written bytes are volatile until ``fsync(handle)`` of that file;
* directory entries: creates, renames and removes are volatile until ``fsync_dir`` of the
  parent directory (directories themselves, from ``makedirs``, are durable at once).

:meth:`SimDisk.crash` models a power loss: every file goes back to its durable content and every
directory to its durable entries.  With ``tear=True`` a file whose unsynced change was a pure
append may keep a random prefix of the appended bytes (a torn last write), optionally followed
by random garbage or zeros.  An unsynced truncate is simply lost (the file reverts to its durable
content), which models a file system with ordered metadata.

Directory locks live in an in-memory registry of the SimDisk (two brokers given one SimDisk share
its file system, so they contend as two processes on one real disk would); a crash drops them, as
the OS drops a dead process's ``flock``.

The free space it reports follows ``capacity`` or, when set, ``free_space`` (a file system
shared with others), so simulated clusters can test the broker's disk space monitor.

Blocking calls run inline (no threads), so simulations stay deterministic under
``trio.testing.MockClock``; an optional ``latency`` makes each blocking call take simulated time.
Everything random comes from the ``random.Random`` passed to :meth:`crash`.

A simulated process uses the disk through its own :meth:`SimDisk.process` view. Killing the
process (:meth:`SimDiskProcess.kill`) is what a ``kill -9`` or a power cut does to its code: from
then on nothing it runs reaches the disk. Trio cannot stop a cancelled task on the spot (it runs
until its next checkpoint, and ``finally`` blocks run after that), so a call through a killed
view raises :class:`ProcessKilled` instead of touching files, and a blocking call first lets the
cancellation through; :class:`contain_dead_process_errors` (around the process's tasks) drops
the errors that come out of the killed process as only that residue.
"""

from __future__ import annotations

import errno
import posixpath
import random
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import trio

from trio_zeebe.disk import DirectoryInUse, DirectoryLock, DiskError, DiskFullError, FileHandle

T = TypeVar("T")

__all__ = [
    "KillSwitch",
    "PowerCut",
    "ProcessKilled",
    "SimDisk",
    "SimDiskProcess",
    "contain_dead_process_errors",
    "without_dead_process_errors",
]


class PowerCut(Exception):
    """Raised by a SimDisk sync call when the test asked for a power cut at that point."""


class ProcessKilled(DiskError):
    """A disk call from a simulated process that was killed: it does not reach the disk."""

    def __init__(self, what: str) -> None:
        super().__init__(errno.EIO, f"the process was killed: {what} not done")


class _Inode:
    __slots__ = ("data", "durable")

    def __init__(self) -> None:
        self.data = bytearray()  # what a reader sees now
        self.durable = b""  # what survives a power loss


class _SimHandle:
    __slots__ = ("_disk", "_epoch", "_inode", "_owner", "_path", "closed")

    def __init__(
        self, disk: SimDisk, path: str, inode: _Inode, owner: SimDiskProcess | None = None
    ) -> None:
        self._disk = disk
        self._path = path
        self._inode = inode
        self._epoch = disk.crashes
        self._owner = owner
        self.closed = False

    @property
    def path(self) -> str:
        return self._path

    @property
    def size(self) -> int:
        return len(self._inode.data)

    def inode(self) -> _Inode:
        if self._owner is not None and self._owner.killed:
            raise ProcessKilled(f"access to {self._path}")
        if self.closed or self._epoch != self._disk.crashes:
            raise DiskError(errno.EBADF, f"file handle closed or lost in a crash: {self._path}")
        return self._inode

    def write(self, data: bytes) -> None:
        inode = self.inode()
        self._disk._charge(len(data), self._path)
        inode.data += data

    def truncate(self, size: int) -> None:
        inode = self.inode()
        del inode.data[size:]

    def close(self) -> None:
        self.closed = True


class _SimLock:
    __slots__ = ("_disk", "_path")

    def __init__(self, disk: SimDisk, path: str) -> None:
        self._disk = disk
        self._path = path

    def release(self) -> None:
        # Only this hold: after a crash the directory may be locked by the next owner already.
        if self._disk._locks.get(self._path, (None,))[0] is self:
            del self._disk._locks[self._path]


class SimDisk:
    """In-memory disk with durable/volatile separation, power loss and an optional capacity."""

    def __init__(
        self,
        *,
        capacity: int | None = None,
        latency: float = 0.0,
        free_space: int | None = None,
    ) -> None:
        self.capacity = capacity
        self.latency = latency
        #: When set, what :meth:`free_bytes` reports (at most what the capacity leaves): the
        #: free space another tenant of the file system left, for the disk space monitor.
        #: Writes are still limited by ``capacity`` only. Tests change it at any time.
        self.free_space = free_space
        #: When set to n, the (n+1)-th fsync/fsync_dir from now raises PowerCut instead of
        #: syncing (the test then calls :meth:`crash`): crash points inside a flush.
        self.power_cut_after: int | None = None
        self._files: dict[str, _Inode] = {}  # volatile directory entries
        self._durable_files: dict[str, _Inode] = {}  # durable directory entries
        self._dirs: set[str] = {"/", "."}
        self._locks: dict[str, tuple[_SimLock, str]] = {}  # directory -> (hold, owner)
        # counters
        self.bytes_written = 0
        self.writes = 0
        self.fsyncs = 0
        self.dir_fsyncs = 0
        self.crashes = 0
        self.torn_files = 0

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _norm(path: str) -> str:
        return posixpath.normpath(path)

    def _charge(self, n: int, path: str) -> None:
        if self.capacity is not None and self.used_bytes() + n > self.capacity:
            raise DiskFullError(errno.ENOSPC, f"disk full: write {path}: no space left on device")
        self.bytes_written += n
        self.writes += 1

    def used_bytes(self) -> int:
        inodes = {id(i): i for i in (*self._files.values(), *self._durable_files.values())}
        return sum(max(len(i.data), len(i.durable)) for i in inodes.values())

    def _sync_point(self) -> None:
        if self.power_cut_after is not None:
            if self.power_cut_after <= 0:
                self.power_cut_after = None
                raise PowerCut("simulated power cut")
            self.power_cut_after -= 1

    def _missing(self, path: str) -> DiskError:
        return DiskError(errno.ENOENT, f"no such file: {path}")

    def process(self) -> SimDiskProcess:
        """A new process's view of this disk (see the module docstring)."""
        return SimDiskProcess(self)

    # -- Disk protocol ------------------------------------------------------------------

    def lock_directory(self, path: str, owner: str) -> DirectoryLock:
        path = self._norm(path)
        if path not in self._dirs:
            raise self._missing(path)
        held = self._locks.get(path)
        if held is not None:
            raise DirectoryInUse(path, held[1])
        lock = _SimLock(self, path)
        self._locks[path] = (lock, owner)
        return lock

    def release_locks(self) -> None:
        """The process using this disk died: the OS drops its locks at once (a crashed broker's
        own clean-up may run later, or never)."""
        self._locks.clear()

    def lock_holder(self, path: str) -> str | None:
        """The owner recorded by the current hold of ``path`` (tests)."""
        held = self._locks.get(self._norm(path))
        return None if held is None else held[1]

    def open_append(self, path: str) -> FileHandle:
        return self._open_append(path, None)

    def _open_append(self, path: str, owner: SimDiskProcess | None) -> _SimHandle:
        path = self._norm(path)
        if posixpath.dirname(path) not in self._dirs:
            raise DiskError(errno.ENOENT, f"no such directory: {posixpath.dirname(path)}")
        inode = self._files.get(path)
        if inode is None:
            inode = self._files[path] = _Inode()
        return _SimHandle(self, path, inode, owner)

    def read(self, path: str, offset: int = 0, length: int = -1) -> bytes:
        inode = self._files.get(self._norm(path))
        if inode is None:
            raise self._missing(path)
        end = len(inode.data) if length < 0 else offset + length
        return bytes(inode.data[offset:end])

    def listdir(self, path: str) -> list[str]:
        path = self._norm(path)
        if path not in self._dirs:
            raise self._missing(path)
        names = [posixpath.basename(p) for p in self._files if posixpath.dirname(p) == path]
        names += [posixpath.basename(d) for d in self._dirs if posixpath.dirname(d) == path]
        return sorted(n for n in names if n not in ("", "."))

    def makedirs(self, path: str) -> None:
        path = self._norm(path)
        while path not in self._dirs:
            self._dirs.add(path)
            path = posixpath.dirname(path)

    def remove(self, path: str) -> None:
        if self._files.pop(self._norm(path), None) is None:
            raise self._missing(path)

    def rename(self, src: str, dst: str) -> None:
        inode = self._files.pop(self._norm(src), None)
        if inode is None:
            raise self._missing(src)
        self._files[self._norm(dst)] = inode

    def truncate(self, path: str, size: int) -> None:
        inode = self._files.get(self._norm(path))
        if inode is None:
            raise self._missing(path)
        del inode.data[size:]

    def exists(self, path: str) -> bool:
        path = self._norm(path)
        return path in self._files or path in self._dirs

    def free_bytes(self, path: str) -> int:
        free = 1 << 50 if self.capacity is None else max(0, self.capacity - self.used_bytes())
        return free if self.free_space is None else min(free, self.free_space)

    def fsync(self, handle: FileHandle) -> None:
        if not isinstance(handle, _SimHandle):
            raise TypeError(f"not a SimDisk handle: {handle!r}")
        inode = handle.inode()
        self._sync_point()
        inode.durable = bytes(inode.data)
        self.fsyncs += 1

    def fsync_dir(self, path: str) -> None:
        path = self._norm(path)
        if path not in self._dirs:
            raise self._missing(path)
        self._sync_point()
        for p in [p for p in self._durable_files if posixpath.dirname(p) == path]:
            del self._durable_files[p]
        for p, inode in self._files.items():
            if posixpath.dirname(p) == path:
                self._durable_files[p] = inode
        self.dir_fsyncs += 1

    async def run_blocking(self, fn: Callable[..., T], *args: object) -> T:
        # Inline, never a thread: trio.to_thread confuses MockClock's autojump.
        result = fn(*args)
        if self.latency > 0:
            await trio.sleep(self.latency)
        else:
            await trio.lowlevel.checkpoint()
        return result

    run_grouped = run_blocking

    # -- power loss ----------------------------------------------------------------------

    def crash(self, rng: random.Random, tear: bool = True) -> None:
        """Power loss: keep only durable state (plus, with ``tear``, torn appends).

        Open handles become invalid.  Deterministic given ``rng``.
        """
        self.crashes += 1
        self.power_cut_after = None
        self.release_locks()  # the processes holding them are gone
        self._files = dict(self._durable_files)
        for path in sorted(self._files):
            inode = self._files[path]
            content = inode.durable
            extra = len(inode.data) - len(content)
            if tear and extra > 0 and inode.data.startswith(content) and rng.random() < 0.5:
                keep = rng.randrange(extra + 1)
                tail = bytes(inode.data[len(content) : len(content) + keep])
                junk = rng.randrange(3)
                if junk and keep < extra:
                    n = rng.randrange(1, extra - keep + 1)
                    tail += bytes(n) if junk == 1 else rng.randbytes(n)
                content += tail
                self.torn_files += 1
            fresh = _Inode()
            fresh.data = bytearray(content)
            fresh.durable = content
            self._files[path] = fresh
            self._durable_files[path] = fresh

    # -- test helpers --------------------------------------------------------------------

    def corrupt(self, path: str, offset: int, xor: int = 0xFF) -> None:
        """Flip bits of one byte, in both the volatile and the durable content."""
        inode = self._files[self._norm(path)]
        inode.data[offset] ^= xor
        if offset < len(inode.durable):
            d = bytearray(inode.durable)
            d[offset] ^= xor
            inode.durable = bytes(d)


class SimDiskProcess:
    """One simulated process's view of a :class:`SimDisk` (a :class:`~trio_zeebe.disk.Disk`):
    every call goes to the disk until :meth:`kill`, none after it (:class:`ProcessKilled`)."""

    def __init__(self, disk: SimDisk) -> None:
        self.disk = disk
        self.killed = False

    def kill(self) -> None:
        """The process is dead: nothing it still runs reaches the disk, handles included."""
        self.killed = True

    def _alive(self, what: str) -> SimDisk:
        if self.killed:
            raise ProcessKilled(what)
        return self.disk

    def lock_directory(self, path: str, owner: str) -> DirectoryLock:
        return self._alive(f"lock {path}").lock_directory(path, owner)

    def open_append(self, path: str) -> FileHandle:
        return self._alive(f"open {path}")._open_append(path, self)

    def read(self, path: str, offset: int = 0, length: int = -1) -> bytes:
        return self._alive(f"read {path}").read(path, offset, length)

    def listdir(self, path: str) -> list[str]:
        return self._alive(f"listdir {path}").listdir(path)

    def makedirs(self, path: str) -> None:
        self._alive(f"makedirs {path}").makedirs(path)

    def remove(self, path: str) -> None:
        self._alive(f"remove {path}").remove(path)

    def rename(self, src: str, dst: str) -> None:
        self._alive(f"rename {src}").rename(src, dst)

    def truncate(self, path: str, size: int) -> None:
        self._alive(f"truncate {path}").truncate(path, size)

    def exists(self, path: str) -> bool:
        return self._alive(f"stat {path}").exists(path)

    def free_bytes(self, path: str) -> int:
        return self._alive(f"statfs {path}").free_bytes(path)

    def fsync(self, handle: FileHandle) -> None:
        self._alive(f"fsync {handle.path}").fsync(handle)

    def fsync_dir(self, path: str) -> None:
        self._alive(f"fsync {path}").fsync_dir(path)

    async def run_blocking(self, fn: Callable[..., T], *args: object) -> T:
        if self.killed:
            # A dead process's cancelled task stops here (Cancelled), as it never ran on; a
            # shielded one gets the error.
            await trio.lowlevel.checkpoint()
            raise ProcessKilled(getattr(fn, "__name__", "a blocking call"))
        return await self.disk.run_blocking(fn, *args)

    run_grouped = run_blocking


def _from_dead_process(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return False  # split() looks at its members
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ProcessKilled):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def without_dead_process_errors(exc: BaseException) -> BaseException | None:
    """``exc`` without the errors a killed process's calls raised (or that they caused): None
    when nothing else is left. For the harness that kills simulated processes."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(_from_dead_process)
        return rest
    return None if _from_dead_process(exc) else exc


class contain_dead_process_errors:
    """Around a simulated process's tasks: once ``process`` was killed, the errors its disk calls
    raised (and what they caused) while its tasks unwound are dropped; anything else goes on."""

    def __init__(self, process: SimDiskProcess | None) -> None:
        self.process = process

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or self.process is None or not self.process.killed:
            return False
        rest = without_dead_process_errors(exc)
        if rest is None:
            return True
        if rest is exc:
            return False
        raise rest from None


class KillSwitch(SimDisk):
    """A SimDisk that runs ``armed`` (a test's crash of the process using it) inside its next
    fsync: power is lost while the process is in the middle of a disk call."""

    armed: Callable[[], None] | None = None

    def fsync(self, handle: FileHandle) -> None:
        crash, self.armed = self.armed, None
        if crash is not None:
            crash()
        super().fsync(handle)
