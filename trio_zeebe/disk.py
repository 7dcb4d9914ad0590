"""The disk interface: every file access of the log and of metadata goes through a :class:`Disk`.

Production uses :class:`RealDisk` (plain files; blocking calls run on a worker thread via
``trio.to_thread``).  Tests use ``trio_zeebe.testing.disk.SimDisk``, which keeps synced and
unsynced state apart and can simulate a power loss.

Cheap calls (open, write, read, rename, ...) are synchronous.  ``fsync`` and ``fsync_dir`` block
for milliseconds and must be called through :meth:`Disk.run_blocking` from trio code (or
:meth:`Disk.run_grouped`, which lets the logs of many partitions share one thread handoff).

Writes are all-or-nothing: a write that fails (ENOSPC, EIO) leaves the file at its previous size
and raises :class:`DiskFullError` / :class:`DiskError`, so a failed write never leaves a partial
record behind what is already on disk.

A broker owns its data directory exclusively: :meth:`Disk.lock_directory` takes the directory's
lock (the real disk: ``flock`` on a ``LOCK`` file holding the owner's PID, dropped by the OS when
the process dies, however it dies) and raises :class:`DirectoryInUse` while another holds it.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import trio

T = TypeVar("T")

__all__ = [
    "LOCK_FILE",
    "DirectoryInUse",
    "DirectoryLock",
    "Disk",
    "DiskError",
    "DiskFullError",
    "FileHandle",
    "RealDisk",
    "replace_atomically",
]

LOCK_FILE = "LOCK"
"""The file in a locked directory whose ``flock`` is the lock; it holds the owner's PID."""


class DiskError(OSError):
    """An I/O error from the disk (EIO, a failed fsync, a handle used after close/crash)."""


class DiskFullError(DiskError):
    """A write failed because the disk (or quota) is full; nothing was written."""


class DirectoryInUse(DiskError):
    """Another owner (another broker process, or another broker in this one) holds the lock."""

    def __init__(self, path: str, holder: str | None) -> None:
        self.path = path
        self.holder = holder
        who = f" (pid {holder})" if holder else ""
        super().__init__(errno.EWOULDBLOCK, f"{path} is in use by another broker{who}")

    def __str__(self) -> str:
        return str(self.strerror)


def _wrap(exc: OSError, what: str) -> DiskError:
    if isinstance(exc, DiskError):
        return exc
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(exc.errno, f"disk full: {what}: {exc.strerror}")
    return DiskError(exc.errno, f"disk error: {what}: {exc.strerror or exc}")


class FileHandle(Protocol):
    """A file opened for appending."""

    @property
    def path(self) -> str: ...

    @property
    def size(self) -> int:
        """Current (volatile) size in bytes, including unsynced writes."""
        ...

    def write(self, data: bytes) -> None:
        """Append all of ``data`` or nothing (raises DiskFullError / DiskError)."""
        ...

    def truncate(self, size: int) -> None:
        """Cut the file to ``size`` bytes; later writes append after that point."""
        ...

    def close(self) -> None: ...


class DirectoryLock(Protocol):
    """An exclusive hold on a directory; :meth:`release` ends it (idempotent)."""

    def release(self) -> None: ...


class Disk(Protocol):
    """File access used by the log and the metadata stores.  Paths are plain strings."""

    def lock_directory(self, path: str, owner: str) -> DirectoryLock:
        """Take the exclusive lock of the existing directory ``path``, recording ``owner``
        (a PID) as its holder; raises :class:`DirectoryInUse` (naming the holder if known) while
        someone else holds it, :class:`DiskError` when the lock cannot be taken at all."""
        ...

    def open_append(self, path: str) -> FileHandle:
        """Open (creating if missing) a file for appending."""
        ...

    def read(self, path: str, offset: int = 0, length: int = -1) -> bytes:
        """Read ``length`` bytes at ``offset`` (-1: up to the end of the file)."""
        ...

    def listdir(self, path: str) -> list[str]: ...

    def makedirs(self, path: str) -> None:
        """Create a directory and its parents (no error if it exists)."""
        ...

    def remove(self, path: str) -> None: ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically rename ``src`` to ``dst``, replacing ``dst`` if it exists."""
        ...

    def truncate(self, path: str, size: int) -> None: ...

    def exists(self, path: str) -> bool: ...

    def free_bytes(self, path: str) -> int: ...

    def fsync(self, handle: FileHandle) -> None:
        """Blocking: make the file's content durable.  Call through :meth:`run_blocking`."""
        ...

    def fsync_dir(self, path: str) -> None:
        """Blocking: make creates/renames/removes in directory ``path`` durable."""
        ...

    async def run_blocking(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking disk call without blocking the trio thread."""
        ...

    async def run_grouped(self, fn: Callable[..., T], *args: object) -> T:
        """Like :meth:`run_blocking`, for short calls that may share a worker-thread trip.

        For the group commit of many logs: calls made while another trip runs wait for it and
        then go together, so a broker's partitions pay one thread handoff for their fsyncs.
        """
        ...


class _RealHandle:
    __slots__ = ("_fd", "_path", "_size")

    def __init__(self, path: str) -> None:
        self._path = path
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise _wrap(exc, f"open {path}") from exc

    @property
    def path(self) -> str:
        return self._path

    @property
    def size(self) -> int:
        return self._size

    def fileno(self) -> int:
        if self._fd is None:
            raise DiskError(errno.EBADF, f"file handle closed: {self._path}")
        return self._fd

    def write(self, data: bytes) -> None:
        fd = self.fileno()
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += os.write(fd, view[done:])
        except OSError as exc:
            # All-or-nothing: cut off whatever part of the write reached the file.
            if done:
                try:
                    os.ftruncate(fd, self._size)
                except OSError:
                    pass
            raise _wrap(exc, f"write {self._path}") from exc
        self._size += done

    def truncate(self, size: int) -> None:
        try:
            os.ftruncate(self.fileno(), size)
        except OSError as exc:
            raise _wrap(exc, f"truncate {self._path}") from exc
        self._size = size

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class _FileLock:
    """``flock`` on an open LOCK file: held while the descriptor is open, by this open file
    description only (a second open of the file in the same process conflicts, too)."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        # The LOCK file stays: deleting it would let a broker that opened it just before lock
        # a file nobody else can see, while a third one creates and locks a new one.
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing drops the flock


class RealDisk:
    """The real file system.  Blocking calls go to a worker thread."""

    def lock_directory(self, path: str, owner: str) -> DirectoryLock:
        lock_path = os.path.join(path, LOCK_FILE)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _wrap(exc, f"open {lock_path}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = None
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                try:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or None
                except OSError:
                    pass
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise DirectoryInUse(path, holder) from None
            raise _wrap(exc, f"lock {lock_path}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{owner}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise _wrap(exc, f"write {lock_path}") from exc
        return _FileLock(fd)

    def open_append(self, path: str) -> FileHandle:
        return _RealHandle(path)

    def read(self, path: str, offset: int = 0, length: int = -1) -> bytes:
        try:
            with open(path, "rb") as f:
                if offset:
                    f.seek(offset)
                return f.read(length)
        except OSError as exc:
            raise _wrap(exc, f"read {path}") from exc

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def remove(self, path: str) -> None:
        os.remove(path)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def truncate(self, path: str, size: int) -> None:
        try:
            os.truncate(path, size)
        except OSError as exc:
            raise _wrap(exc, f"truncate {path}") from exc

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def free_bytes(self, path: str) -> int:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize

    def fsync(self, handle: FileHandle) -> None:
        if not isinstance(handle, _RealHandle):
            raise TypeError(f"not a RealDisk handle: {handle!r}")
        try:
            os.fsync(handle.fileno())
        except OSError as exc:
            raise _wrap(exc, f"fsync {handle.path}") from exc

    def fsync_dir(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _wrap(exc, f"fsync directory {path}") from exc

    def __init__(self) -> None:
        self._trips = _Trips()

    async def run_blocking(self, fn: Callable[..., T], *args: object) -> T:
        return await trio.to_thread.run_sync(fn, *args)

    async def run_grouped(self, fn: Callable[..., T], *args: object) -> T:
        return await self._trips.run(fn, args)


class _Call:
    __slots__ = ("args", "error", "finished", "fn", "turn", "value")

    def __init__(self, fn: Callable[..., Any], args: tuple[object, ...]) -> None:
        self.fn = fn
        self.args = args
        self.value: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self.turn = trio.Event()  # set when finished, or when this call must run the next trip

    def run(self) -> None:  # on the worker thread
        try:
            self.value = self.fn(*self.args)
        except Exception as exc:
            self.error = exc
        self.finished = True


class _Trips:
    """Worker-thread trips shared by the calls that queue while the previous trip runs.

    No task of its own: the first caller runs a trip; when it ends, the oldest queued caller
    is woken to run the next one.  Trips are shielded from cancellation, because callers
    queued behind a trip depend on it; each is a few fsyncs long.
    """

    def __init__(self) -> None:
        self._queue: list[_Call] = []
        self._running = False
        self.trips = 0

    async def run(self, fn: Callable[..., T], args: tuple[object, ...]) -> T:
        call = _Call(fn, args)
        self._queue.append(call)
        if self._running:
            try:
                await call.turn.wait()
            except trio.Cancelled:
                if not call.turn.is_set():
                    self._queue.remove(call)  # not run, and nobody waits on it
                elif not call.finished:
                    await self._trip()  # our turn came with the cancellation: others need it
                raise
        if not call.finished:
            await self._trip()
        if call.error is not None:
            raise call.error
        return call.value  # type: ignore[no-any-return]

    async def _trip(self) -> None:
        self._running = True
        batch, self._queue = self._queue, []
        self.trips += 1
        try:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_run_calls, batch)
        except Exception as exc:
            for call in batch:
                if not call.finished and call.error is None:
                    call.error = DiskError(errno.EIO, f"disk worker thread failed: {exc!r}")
            raise
        finally:
            for call in batch:
                call.finished = True
                call.turn.set()
            if self._queue:
                self._queue[0].turn.set()
            else:
                self._running = False


def _run_calls(calls: list[_Call]) -> None:
    for call in calls:
        call.run()


async def replace_atomically(disk: Disk, path: str, data: bytes | Sequence[bytes]) -> None:
    """Replace the file ``path`` with ``data`` so a crash leaves the old or the new content.

    Writes ``path + ".tmp"``, fsyncs it, renames it over ``path`` and fsyncs the directory.
    ``data`` in pieces (a snapshot) is written in a worker thread, so a big file does not hold
    the trio thread. Not safe to call concurrently for the same ``path`` (callers serialise per
    file).
    """
    tmp = path + ".tmp"
    if disk.exists(tmp):
        disk.remove(tmp)
    handle = disk.open_append(tmp)
    try:
        if isinstance(data, bytes):
            handle.write(data)
        else:
            await disk.run_blocking(_write_pieces, handle, data)
        await disk.run_blocking(disk.fsync, handle)
    except BaseException:
        handle.close()
        try:
            disk.remove(tmp)
        except OSError:
            pass
        raise
    handle.close()
    disk.rename(tmp, path)
    await disk.run_blocking(disk.fsync_dir, os.path.dirname(path) or ".")


def _write_pieces(handle: FileHandle, pieces: Sequence[bytes]) -> None:
    for piece in pieces:
        handle.write(piece)
