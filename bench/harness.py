"""What every bench shares: servers as subprocesses on loopback, the load generator, readings of a
process's CPU time and RSS from /proc, medians and ratios, and the printed table.

Every wait here is bounded in time; every subprocess is stopped (SIGTERM, then SIGKILL) when the
``with`` block ends, whatever happened inside it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


_SCRATCH: list[Path] = []


def scratch(name: str) -> Path:
    """A fresh path under this process's scratch directory, removed when the process exits."""
    if not _SCRATCH:
        root = Path(tempfile.mkdtemp(prefix="jivocrm-bench-"))
        _SCRATCH.append(root)
        atexit.register(shutil.rmtree, root, True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_SCRATCH[0]))


class BenchError(RuntimeError):
    """A bench could not measure what it set out to (a server did not start, runs did not end)."""


# ---- processes -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the process exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def serve(
    args: Sequence[str],
    port: int,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Iterator[Server]:
    """Start ``args`` (a server that listens on ``port``), wait until it accepts connections."""
    fd, name = tempfile.mkstemp(prefix="jivocrm-bench-", suffix=".log")
    log = Path(name)
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(proc, port, log)
    try:
        try:
            wait_for_port(port, proc, timeout)
        except BenchError as exc:
            raise BenchError(f"{' '.join(args[:4])}…: {exc}\n{server.tail()}") from None
        yield server
    finally:
        stop(proc)
        with contextlib.suppress(OSError):
            log.unlink()


def python_script(path: Path, *args: str) -> list[str]:
    return [PYTHON, str(path), *args]


# ---- /proc readings --------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def mib(n: float) -> float:
    return round(n / 1024 / 1024, 1)


# ---- load generator ---------------------------------------------------------------------------
def loadgen(url: str, template: Path, **options: Any) -> dict[str, Any]:
    """Run bench/loadgen.py in its own process; options are its flags (``rate=…``)."""
    args = [PYTHON, str(BENCH / "loadgen.py"), "--url", url, "--template", str(template)]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    budget = float(options.get("duration", 5)) + float(options.get("warmup", 1)) + 90
    done = subprocess.run(args, capture_output=True, timeout=budget, check=False)
    if done.returncode != 0:
        raise BenchError(f"loadgen failed: {done.stderr.decode(errors='replace')[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def cpu_meter(pid: int) -> Iterator[dict[str, float]]:
    """CPU seconds and wall seconds of ``pid`` over the ``with`` block, in the yielded dict."""
    reading: dict[str, float] = {}
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    try:
        yield reading
    finally:
        reading["cpu_s"] = cpu_seconds(pid) - c0
        reading["wall_s"] = time.perf_counter() - t0


# ---- figures ----------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]  # drop NaN
    return float(statistics.median(clean)) if clean else float("nan")


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def spread(values: Sequence[float]) -> str:
    """min–max of the repeats, for the reader to judge the noise."""
    if not values:
        return "-"
    return f"{min(values):.0f}–{max(values):.0f}"


def verdict(ok: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "n/a"}[ok]


def print_table(title: str, rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def note(text: str) -> None:
    print(f"  · {text}", flush=True)


# ---- running one bench on its own ---------------------------------------------------------------
def bench_main(
    doc: str | None, run: Callable[[bool], dict[str, Any]], label: str, quick_help: str
) -> None:
    """The command line every bench shares: ``--quick`` and ``--json``."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    try:
        result = run(args.quick)
    except BenchError as exc:
        raise SystemExit(f"{label} bench failed: {exc}") from None
    if args.json:
        print(json.dumps(result, indent=2, default=str))
