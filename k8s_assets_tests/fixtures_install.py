"""The package as users install it, built and installed once per test session.

The wheel is built from this working tree; it is installed twice, at the same time, as users
install it: with pip into a fresh venv the way deploy/Dockerfile installs the image (the wheel
with its extras, then ``pip check``), and with ``pipx install WHEEL``. ``test_packaging`` and
``test_deploy`` both use these installs (one venv serves both: each install costs minutes; with
pytest-xdist, each worker that runs one of the two modules makes them once).
They need the package index (the pip cache makes them quicker): without it the tests are
skipped locally and fail in CI.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k8s_assets_tests.fixtures_postgres import skip_or_fail

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "deploy" / "Dockerfile"
# What an unactivated venv or a pipx install leaves on PATH: neither the venv nor `dagster`.
BARE_PATH = "/usr/bin:/bin"
# pip's words for "the package index cannot be reached": skip locally, fail in CI.
NO_INDEX = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
            "Max retries exceeded", "ProxyError", "ConnectTimeoutError")
TIMINGS: dict[str, float] = {}


def clean_env(path: str = BARE_PATH, **extra: str) -> dict[str, str]:
    """This environment without what would lead Python or k8s-assets to the repository or another venv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("K8S_ASSETS_", "DAGSTER_", "PYTHON", "PIPX_")) and k not in ("VIRTUAL_ENV", "KUBECONFIG")}
    return {**env, "PATH": path, "PYTHONWARNINGS": "ignore", **{k: str(v) for k, v in extra.items()}}


def run(command: list, *, timeout: float = 300, **options) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, **options)


def installed(done: subprocess.CompletedProcess, what: str) -> None:
    """A pip or pipx command succeeded; without the package index, skip (fail in CI)."""
    output = done.stdout + done.stderr
    if done.returncode != 0 and any(marker in output for marker in NO_INDEX):
        skip_or_fail(f"{what} needs the package index: {output.strip().splitlines()[-1]}")
    assert done.returncode == 0, f"{what} failed:\n{output[-5000:]}"


def timed(phase: str, started: float) -> None:
    TIMINGS[phase] = time.monotonic() - started


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory) -> Path:
    """The working tree as git would see it after `git add -A`: tracked and untracked, not ignored.

    Not a `git clone`: the tree holds changes nobody has committed yet, and those are what ships next.
    """
    if shutil.which("git") is None:
        skip_or_fail("git is not installed")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True)
    if listed.returncode != 0:
        skip_or_fail(f"not a git checkout: {listed.stderr.decode().strip()}")
    tree = tmp_path_factory.mktemp("source") / "k8s-assets"
    for name in filter(None, listed.stdout.split(b"\0")):
        source, target = REPO / os.fsdecode(name), tree / os.fsdecode(name)
        if not os.path.lexists(source):
            continue  # deleted in the working tree, not yet in git
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return tree


@pytest.fixture(scope="session")
def wheel(source_tree, tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    installed(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, source_tree],
                  env=clean_env(os.environ["PATH"]), timeout=600), "building the wheel")
    timed("wheel build", started)
    (built,) = dist.glob("k8s_assets-*.whl")
    return built


class Install:
    """An install running in the background, so that the venv's and pipx's run at the same time
    (both spend most of their time asking the package index). Bytecode is not compiled ahead:
    imports compile what they need."""

    def __init__(self, phase: str, command: list, env: dict, log: Path):
        self.phase, self.log = phase, log
        started = time.monotonic()
        with log.open("w") as out:
            self.process = subprocess.Popen([str(c) for c in command], env=env, stdout=out, stderr=subprocess.STDOUT)

        def time_it() -> None:
            self.process.wait()
            TIMINGS[phase] = time.monotonic() - started

        self.timer = threading.Thread(target=time_it, daemon=True)
        self.timer.start()

    def wait(self, timeout: float = 1200) -> None:
        self.timer.join(timeout)
        if self.timer.is_alive():
            self.process.kill()
            self.timer.join()
        installed(subprocess.CompletedProcess(self.process.args, self.process.returncode, self.log.read_text(), ""),
                  self.phase)


def dockerfile_install_spec() -> str:
    """What deploy/Dockerfile's `pip install` installs: the wheel with these extras."""
    match = re.search(r'pip install --no-cache-dir "\$\(echo /tmp/wheels/k8s_assets-\*\.whl\)(\[[a-z0-9,]+\])"',
                      DOCKERFILE.read_text())
    assert match, "deploy/Dockerfile no longer installs the wheel the way this test repeats it"
    return match.group(1)


@dataclass
class Installs:
    venv: Path
    venv_install: Install
    pipx_home: Path
    pipx_bin: Path
    pipx_install: Install | None  # None: pipx is not installed


@pytest.fixture(scope="session")
def installs(wheel, tmp_path_factory) -> Iterator[Installs]:
    """deploy/Dockerfile's `pip install "WHEEL[extras]"` into a new venv (no system
    site-packages, so not the repository's editable install) and, when pipx is installed,
    `pipx install WHEEL` into a private PIPX_HOME and PIPX_BIN_DIR: both started now, waited
    for by the fixtures below."""
    base = tmp_path_factory.mktemp("installs")
    venv, pipx_home, pipx_bin = base / "venv", base / "pipx" / "home", base / "pipx" / "bin"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    venv_install = Install("venv install", [venv / "bin" / "python", "-m", "pip", "install", "--no-compile",
                            f"{wheel}{dockerfile_install_spec()}"],
                           clean_env(os.environ["PATH"]), base / "venv-install.log")
    pipx_install = None
    if importlib.util.find_spec("pipx") is not None:
        env = clean_env(os.environ["PATH"], PIPX_HOME=pipx_home, PIPX_BIN_DIR=pipx_bin, PIPX_MAN_DIR=base / "pipx" / "man")
        pipx_install = Install("pipx install", [sys.executable, "-m", "pipx", "install", "--python", sys.executable,
                                                "--pip-args=--no-compile", wheel], env, base / "pipx-install.log")
    yield Installs(venv, venv_install, pipx_home, pipx_bin, pipx_install)
    for install in (venv_install, pipx_install):
        if install is not None and install.process.poll() is None:  # its tests were not selected
            install.process.kill()
            install.process.wait()


@pytest.fixture(scope="session")
def venv(installs) -> Path:
    """The image's venv: what deploy/Dockerfile installs, checked by `pip check`."""
    installs.venv_install.wait()
    installed(run([installs.venv / "bin" / "python", "-m", "pip", "check"], env=clean_env(os.environ["PATH"])),
              "pip check")
    return installs.venv


@pytest.fixture(scope="session")
def pipx_install(installs) -> Installs:
    if installs.pipx_install is None:
        skip_or_fail("pipx is not installed (pip install -e '.[test]')")
    installs.pipx_install.wait()
    return installs
