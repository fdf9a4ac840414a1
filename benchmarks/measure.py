"""Run a child program and sample the resident memory of its whole process tree."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.05


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in (process, *process.children(recursive=True)):
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run_measured(argv: list[str], out: Path | None, env: dict | None = None, log: Path | None = None) -> dict:
    """Run ``argv`` (which writes JSON to ``out``, if given); return that JSON plus wall time and peak RSS."""
    started = time.perf_counter()
    with open(log or "/dev/null", "ab") as log_file:
        child = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        process = psutil.Process(child.pid)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, tree_rss(process))
                except psutil.NoSuchProcess:
                    return
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = child.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    if code != 0 and (out is None or not out.exists()):
        raise RuntimeError(f"{' '.join(argv[:3])} failed with exit code {code}; see {log}")
    result = json.loads(out.read_text()) if out is not None else {}
    if code != 0 or not result.get("success", True):
        print(f"warning: {argv[1]} exited {code}: {result.get('failures')}", file=sys.stderr)
    result.update(process_seconds=wall, peak_rss_bytes=peak, exit_code=code)
    return result
