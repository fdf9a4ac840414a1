"""Pytest fixtures serving simulated clusters.

``simulator`` (module-scoped, read-only use: two tiny TLS clusters "alpha" and "beta") and
``simulator_kubeconfig`` serve tests that only read. Tests that change objects, inject
faults or stop clusters take ``fresh_simulator``, a factory whose simulators are stopped
at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from k8s_assets.simulator import Simulator


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(clusters=("alpha", "beta"), size="tiny", seed=1, tls=True) as sim:
        yield sim


@pytest.fixture(scope="module")
def simulator_kubeconfig(simulator: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulator.write_kubeconfig(tmp_path_factory.mktemp("simulator") / "kubeconfig")


@pytest.fixture
def fresh_simulator() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def start(clusters: tuple[str, ...] = ("one",), size: str | int = "tiny", **options: object) -> Simulator:
        sim = Simulator(clusters=clusters, size=size, **options)
        started.append(sim)
        sim.start()
        return sim

    yield start
    for sim in started:
        sim.stop()
