"""One picture of HubSpot's rate window for every process on this machine that uses the same app.

Mapped tasks and parallel DAG runs on one worker are separate processes. Left alone, each would know
the others only through ``X-HubSpot-RateLimit-Remaining``, a picture that is a round trip old; they
would bump into each other and leave slots unused while they find out. So the processes share one
:class:`~airflow_provider_hubtix.window_model.WindowModel` in a small file: each decision is taken
under an exclusive lock on the file's current contents, and the processes together act as one
client. Clients elsewhere (other workers, other integrations) are still seen through the headers.

* **Key.** One file per base URL, app credentials and configured budget (their SHA-256; the file
  holds timestamps only, never a credential), and per file format. HubSpot's 10-second window
  belongs to the app.
* **Place.** ``$HUBTIX_RATE_LIMIT_DIR``, else ``hubtix-ratelimit-<uid>`` in the temporary directory:
  created private (0700); sharing is off when it is not this user's own, or the platform has no
  ``fcntl`` (Windows). It must be on this machine: the timestamps are ``time.monotonic()``.
* **Crashes.** A request in flight of a process that died is taken as answered when that is found
  (it may have been counted until then). A file that cannot be read, or that was written before the
  machine started, is started afresh.

Plain Python, no Airflow import.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import stat
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_hubtix.window_model import Sent, WindowModel

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["STATE_DIR_ENV", "Held", "SharedWindow", "find_sent", "shared_window_for"]

log = logging.getLogger(__name__)

STATE_DIR_ENV = "HUBTIX_RATE_LIMIT_DIR"

FORMAT = 1
"""In the file's name: a release that pickles the model differently uses other files."""

SETTLE_SECONDS = 1.0
"""How often a process looks for requests in flight of processes that died."""

_HEADER = struct.Struct("<8sII")
"""Stamp, length and CRC-32 of the pickled model that follows."""


def shared_window_for(base_url: str, credentials: str, budget: int | None) -> SharedWindow | None:
    """The shared window of these app credentials on this machine, or ``None`` when processes
    cannot share one here (see the module).

    :param base_url: HubSpot's base URL (each sandbox has its own window).
    :param credentials: what identifies the app: its token, or its OAuth client and refresh token.
    :param budget: the configured ``requests_per_10s`` (``None``: learned); processes that
        configure different budgets keep separate pictures.
    """
    if fcntl is None:
        return None
    directory = _private_directory()
    if directory is None:
        return None
    key = hashlib.sha256(f"{base_url}\n{credentials}\n{budget}".encode()).hexdigest()[:32]
    return SharedWindow(directory / f"{key}.v{FORMAT}.window")


def _private_directory() -> Path | None:
    """The directory for the shared files, created private; ``None`` if it is not ours alone."""
    directory = Path(
        os.environ.get(STATE_DIR_ENV) or Path(tempfile.gettempdir()) / f"hubtix-ratelimit-{os.getuid()}"
    )
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except OSError as error:
        log.warning("Rate limit not shared between processes: cannot use %s (%s).", directory, error)
        return None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        log.warning(
            "Rate limit not shared between processes: %s is not this user's own private directory.", directory
        )
        return None
    return directory


@dataclass
class Held:
    """The model and the time while the lock is held; set ``changed`` to have the model written."""

    model: WindowModel
    now: float
    changed: bool = False


@dataclass
class _Saved:
    """What the file holds: the model, when it was written (``time.monotonic()``), when each process
    that wrote it started (to tell it from a later process given the same pid), and in which boot of
    the machine."""

    model: WindowModel
    saved_at: float
    started: dict[int, str]
    boot: str


class SharedWindow:
    """A :class:`WindowModel` kept in a file and changed under an exclusive lock on that file.

    The file is a header (a stamp that changes with every write, the length and CRC-32 of the rest)
    and the pickled model. A process rereads the model only when the stamp changed.

    :param path: the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._fd_pid = 0
        self._model: WindowModel | None = None
        self._stamp = b""
        """The stamp of the file as this process last wrote or read it: the model in memory is its."""
        self.others_wrote_at = -float("inf")
        """When this process last found the file written by another."""
        self._settle_at = -float("inf")
        self._started: dict[int, str] = {}

    @contextlib.contextmanager
    def open(self, new_model: Callable[[], WindowModel], clock: Callable[[], float]) -> Iterator[Held]:
        """Lock the file; yield its model (``new_model()`` if it has none) and the time, read once
        the lock is held; write the model back if it was ``changed``. (What only the passing of time
        changes is not written: the next process to read the file reasons the same from its clock.)

        :param new_model: makes the model for the first process to use the file.
        :param clock: ``time.monotonic`` or a test's clock.
        """
        fd = self._file()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            now = clock()
            model = self._load(fd, new_model, now)
            held = Held(model, now)
            if now >= self._settle_at:  # a process may have died since it last wrote
                self._settle_at = now + SETTLE_SECONDS
                held.changed = self._settle_dead_processes(model, now)
            yield held
            if held.changed:
                self._save(fd, held.model, now)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _settle_dead_processes(self, model: WindowModel, now: float) -> bool:
        """Requests in flight of processes that no longer exist will get no answer: take them as
        answered now (they may have been counted at any moment until now). Whether there were any."""
        gone = {pid for pid, started in self._started.items() if _started(pid) != started}
        dead = [sent for sent in model.own if sent.answered == float("inf") and sent.pid in gone]
        for sent in dead:
            model.unanswered(sent, now)
        for pid in gone:
            del self._started[pid]
        return bool(gone)

    def _file(self) -> int:
        """The file, opened once per process (a forked child needs its own: a lock belongs to the
        open file, which a fork shares)."""
        if self._fd_pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    def _load(self, fd: int, new_model: Callable[[], WindowModel], now: float) -> WindowModel:
        header = os.pread(fd, _HEADER.size, 0)
        if self._model is not None and header[:8] == self._stamp:
            return self._model
        if self._model is not None:
            self.others_wrote_at = now
        self._stamp = header[:8]
        saved = None
        if header:
            try:
                saved = _unpack(header, os.pread(fd, os.fstat(fd).st_size, _HEADER.size))
            except Exception as error:  # torn or foreign: start afresh
                log.warning("New shared rate-limit picture: %s could not be read (%s).", self.path, error)
        if isinstance(saved, _Saved) and isinstance(saved.model, WindowModel) and _this_boot(saved, now):
            self._model, self._started = saved.model, saved.started
        else:  # none, unreadable, or written before this machine last started
            self._model, self._started = new_model(), {}
        return self._model

    def _save(self, fd: int, model: WindowModel, now: float) -> None:
        pid = os.getpid()
        if pid not in self._started:
            self._started[pid] = _started(pid)
        body = pickle.dumps(_Saved(model, now, self._started, _BOOT), protocol=pickle.HIGHEST_PROTOCOL)
        self._stamp = os.urandom(8)
        contents = _HEADER.pack(self._stamp, len(body), zlib.crc32(body)) + body
        os.pwrite(fd, contents, 0)
        os.ftruncate(fd, len(contents))


def _unpack(header: bytes, body: bytes) -> object:
    _, length, crc = _HEADER.unpack(header)
    if len(body) != length or zlib.crc32(body) != crc:
        raise ValueError("torn or foreign contents")
    return pickle.loads(body)  # this user's private directory


def _this_boot(saved: _Saved, now: float) -> bool:
    """Whether ``saved`` was written since the machine last started (its clock starts again then)."""
    return saved.boot == _BOOT and saved.saved_at <= now


def _boot_id() -> str:
    """This boot of the machine (Linux); elsewhere ``""``, and a picture from before the machine
    started is told by its clock alone (``saved_at`` ahead of ``time.monotonic()``)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            return boot.read().strip()
    except OSError:
        return ""


_BOOT = _boot_id()


def _started(pid: int) -> str:
    """When process ``pid`` started (Linux: ``/proc``); ``"alive"`` where that cannot be read but
    the process exists, ``""`` when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        return "alive"
    return "alive"


def find_sent(model: WindowModel, sent: Sent) -> Sent:
    """The model's record of ``sent`` (the same request, as last written to the file), else ``sent``."""
    for candidate in (*model.own, *model.left):
        if candidate.pid == sent.pid and candidate.number == sent.number:
            return candidate
    return sent
