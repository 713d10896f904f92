"""A persistent child Python process that answers requests one at a time, each
within a CPU-time limit; a child that runs over is killed and must be replaced.

Why a child process: work that can run for minutes (a parser on a pathological
input) cannot be interrupted inside the calling process when the call may come from
any thread (Beam calls ``process`` from worker threads), where ``signal.alarm``
cannot interrupt anything. Killing a process always works.

``subprocess``, not ``multiprocessing``: Dask worker processes are daemonic and may
not start multiprocessing children. The child is started once and kept, so a request
costs a pickle round trip, and a kill one interpreter start (~0.3-1 s) for the next.

CPU time, not wall time: on a busy machine (shared CI, an oversubscribed worker) a
wall-clock limit stops work that was merely waiting for a core, so the result would
depend on the load; a CPU budget keeps reruns identical. A wall-clock backstop
catches a child that hangs without computing. Where /proc is missing (macOS) the
limit is wall-clock.

Protocol: length-prefixed pickles over the child's stdin/stdout. The first frame is
the parent's ``sys.path`` and a pickled ``(start, args)``; the child calls
``start(*args)`` (imports and warm-up, charged to no request), which returns the
handler ``request -> reply``, says "ready", then answers each request frame with
``handler(request)``. ``start`` must be importable by module path (it is pickled).
"""
from __future__ import annotations

import logging
import os
import pathlib
import pickle
import select
import struct
import subprocess
import sys
import time
import weakref
from typing import Any, Callable, Optional

_FRAME = struct.Struct("<Q")
_STARTUP_TIMEOUT_S = 120.0  # interpreter start + imports on a busy machine; not per request
_POLL_S = 0.1  # how often a long-running request's CPU use is checked
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ChildTimeout(Exception):
    """The child used up its budget on one request; it is stuck: close it."""


class ChildDied(Exception):
    """The child exited or broke the protocol (e.g. killed for memory): close it."""


def process_cpu_seconds(pid: int) -> Optional[float]:
    """user+system CPU seconds of a process from /proc (None where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name (which may contain spaces):
    # state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class _Budget:
    """A request's allowance: CPU seconds of the child, plus a wall-clock backstop."""

    def __init__(self, pid: int, cpu_s: Optional[float], wall_s: float):
        self.pid = pid
        self.cpu_start = process_cpu_seconds(pid) if cpu_s is not None else None
        # Without a CPU reading the wall clock is the only limit, at the CPU budget.
        self.cpu_s = cpu_s if self.cpu_start is not None else None
        self.wall_deadline = time.monotonic() + (wall_s if self.cpu_s is not None else (cpu_s or wall_s))

    def wait_slice(self) -> float:
        left = self.wall_deadline - time.monotonic()
        return max(0.0, min(left, _POLL_S) if self.cpu_s is not None else left)

    def expired(self) -> bool:
        if time.monotonic() >= self.wall_deadline:
            return True
        if self.cpu_s is None:
            return False
        used = process_cpu_seconds(self.pid)
        return used is not None and used - self.cpu_start >= self.cpu_s


def _write_frame(stream, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_frame_blocking(stream) -> Any:
    header = stream.read(_FRAME.size)
    if len(header) < _FRAME.size:
        raise EOFError
    (size,) = _FRAME.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def serve_requests() -> None:
    """Child process loop: start the handler, then answer request frames until EOF."""
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING)
    stdin = sys.stdin.buffer
    sys_path, job = _read_frame_blocking(stdin)
    for entry in sys_path:  # lets a user's (or test's) callables import
        if entry not in sys.path:
            sys.path.append(entry)
    start, args = pickle.loads(job)
    handle = start(*args)
    _write_frame(protocol_out, ("ready",))
    while True:
        try:
            request = _read_frame_blocking(stdin)
        except EOFError:
            return  # parent closed the pipe or died
        _write_frame(protocol_out, handle(request))


class TimeLimitedChild:
    """One persistent child process; reads its replies with a deadline on the raw pipe fd.

    Args:
        start: ``start(*args) -> handler``, run once in the child (see the module doc).
        args: picklable arguments for ``start``.
        name: what the child does, for the error raised when it does not start.
        on_start_failure: what to tell the user to run when it does not start.
    Raises RuntimeError when the child does not say "ready" within two minutes.
    """

    def __init__(self, start: Callable[..., Callable[[Any], Any]], args: tuple = (),
                 name: str = "worker", on_start_failure: str = "see the child's stderr"):
        root = str(pathlib.Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pipelines.stages.child_process import serve_requests; serve_requests()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._finalizer = weakref.finalize(self, _kill_process, self.proc)
        try:
            self._send((list(sys.path), pickle.dumps((start, args))))
            reply = self._receive(_Budget(self.proc.pid, None, _STARTUP_TIMEOUT_S))
        except (ChildTimeout, EOFError, OSError) as exc:
            self.close()
            raise RuntimeError(f"the {name} child process did not start; {on_start_failure} ({exc!r})") from exc
        assert reply == ("ready",), reply

    def ask(self, request: Any, cpu_s: Optional[float], wall_s: float) -> Any:
        """The handler's reply to ``request``.

        Raises ChildTimeout once the child has spent ``cpu_s`` CPU seconds (or ``wall_s``
        wall seconds) on it, ChildDied when it exited; either way the child is no longer
        usable: ``close()`` it and start another.
        """
        try:
            budget = _Budget(self.proc.pid, cpu_s, wall_s)
            self._send(request)
            return self._receive(budget)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise ChildDied(repr(exc)) from exc

    def close(self) -> None:
        """Kill the child (if still running) and reap it; safe to call twice."""
        self._finalizer()

    def _send(self, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(_FRAME.pack(len(data)) + data)
        self.proc.stdin.flush()

    def _read_exact(self, size: int, budget: _Budget) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, remaining = [], size
        while remaining:
            readable, _, _ = select.select([fd], [], [], budget.wait_slice())
            if not readable:
                if budget.expired():
                    raise ChildTimeout
                continue
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                raise EOFError("child process exited")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _receive(self, budget: _Budget) -> Any:
        (size,) = _FRAME.unpack(self._read_exact(_FRAME.size, budget))
        return pickle.loads(self._read_exact(size, budget))


def _kill_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass
