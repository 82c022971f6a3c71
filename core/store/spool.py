"""The InfluxDB writer's local spool: line protocol kept on disk while the server is away.

Lines the writer could not get acknowledged (retries exhausted, or the server
known to be down) are appended here, fsync'd, and only then reported durable to
the caller. A background replayer posts them again once the server answers, and
deletes a segment only after every one of its lines has been accepted.

Layout of ``spool_dir``:

- ``segment-<sequence>.lp``: append-only line protocol, one line per point,
  each line ending in ``\\n``. The newest segment is the one being appended to;
  older ones are sealed and wait for replay, oldest first.
- ``rejected/segment-<sequence>.lp``: lines the server refused as invalid
  (HTTP 400/422) during replay, kept for a person to look at, never resent.
- ``.lock``: locked (flock) by the one process using the spool.

A crash in the middle of an append can leave a last line without its ``\\n``.
No caller was told that line was durable (that happens only after fsync), so on
open the incomplete tail is cut off, with a warning that says how many bytes.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^segment-(\d{12})\.lp$")
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024


class SpoolLocked(RuntimeError):
    """Another process is using the spool directory."""


class SpoolFull(RuntimeError):
    """The spool has reached its size cap; the lines were not kept."""

    def __init__(self, needed: int, used: int, cap: int) -> None:
        self.needed, self.used, self.cap = needed, used, cap
        super().__init__(
            f"spool full: {needed} more bytes do not fit ({used} of {cap} bytes used); "
            "the batch is not durable and must not be acknowledged"
        )


@dataclass(frozen=True)
class Segment:
    path: Path
    sequence: int
    size: int


class Spool:
    """Append-only, size-capped segments of line protocol. Thread-safe."""

    def __init__(
        self,
        directory: str | Path,
        max_bytes: int,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_directory(self.directory)
        self.rejected_directory = self.directory / "rejected"
        self.max_bytes = int(max_bytes)
        self.segment_bytes = max(1, min(int(segment_bytes), self.max_bytes))
        self._lock = threading.Lock()
        self._sealed: list[Segment] = []
        for path in sorted(self.directory.glob("segment-*.lp")):
            match = _SEGMENT.match(path.name)
            if match:
                size = _cut_incomplete_tail(path)
                if size:
                    self._sealed.append(Segment(path, int(match.group(1)), size))
                else:
                    path.unlink()
        self._next_sequence = (self._sealed[-1].sequence + 1) if self._sealed else 1
        self._active_fd: int | None = None
        self._active: Segment | None = None
        self._bytes = sum(s.size for s in self._sealed)

    # -- state ---------------------------------------------------------------
    @property
    def bytes(self) -> int:
        return self._bytes

    def has_room(self) -> bool:
        return self._bytes < self.max_bytes

    def is_empty(self) -> bool:
        return self._bytes == 0

    def segment_count(self) -> int:
        with self._lock:
            return len(self._sealed) + (1 if self._active else 0)

    # -- appending -----------------------------------------------------------
    def append(self, lines: Sequence[bytes]) -> None:
        """Keep ``lines`` durably (written and fsync'd), all of them or none.

        Raises SpoolFull when they do not fit under the cap.
        """
        if not lines:
            return
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                raise SpoolFull(len(data), self._bytes, self.max_bytes)
            if self._active is not None and self._active.size + len(data) > self.segment_bytes:
                self._seal_active()
            if self._active is None:
                self._open_active()
            assert self._active is not None and self._active_fd is not None
            _write_all(self._active_fd, data)
            os.fsync(self._active_fd)
            self._active = Segment(
                self._active.path, self._active.sequence, self._active.size + len(data)
            )
            self._bytes += len(data)

    def _open_active(self) -> None:
        path = self.directory / f"segment-{self._next_sequence:012d}.lp"
        self._active_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_directory(self.directory)  # the new file's name survives a crash too
        self._active = Segment(path, self._next_sequence, 0)
        self._next_sequence += 1

    def _seal_active(self) -> None:
        if self._active_fd is not None:
            os.close(self._active_fd)
            self._active_fd = None
        if self._active is not None:
            if self._active.size:
                self._sealed.append(self._active)
            else:
                self._active.path.unlink(missing_ok=True)
            self._active = None

    # -- replaying -----------------------------------------------------------
    def seal(self) -> list[Segment]:
        """Close the segment being appended to; return every sealed segment, oldest first."""
        with self._lock:
            self._seal_active()
            return list(self._sealed)

    @staticmethod
    def read_lines(segment: Segment) -> list[bytes]:
        return [line for line in segment.path.read_bytes().split(b"\n") if line]

    def remove(self, segment: Segment) -> None:
        """Forget a segment whose lines the server has all accepted."""
        with self._lock:
            if segment in self._sealed:
                self._sealed.remove(segment)
                self._bytes -= segment.size
        segment.path.unlink(missing_ok=True)

    def reject(self, segment: Segment, lines: Sequence[bytes]) -> Path:
        """Keep lines the server refused as invalid beside the spool, outside the cap."""
        self.rejected_directory.mkdir(exist_ok=True)
        target = self.rejected_directory / segment.path.name
        with target.open("ab") as handle:
            handle.write(b"\n".join(lines) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return target

    def close(self) -> None:
        with self._lock:
            self._seal_active()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the directory lock
                self._lock_fd = None


def _lock_directory(directory: Path) -> int:
    """Hold an exclusive lock on the spool directory: one writer process per spool."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolLocked(
            f"the spool {directory} is in use by another process; give every ingestor "
            "its own spool directory (CAMPUSLAB_SPOOL_DIR)"
        ) from None
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_incomplete_tail(path: Path) -> int:
    """Truncate a segment after its last complete line; return the size kept."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        log.warning(
            "spool segment %s ends in an incomplete line (%d bytes, a crash during an "
            "append); cutting it off: no caller was told those bytes were durable",
            path,
            len(data) - keep,
        )
        with path.open("r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
    return keep
