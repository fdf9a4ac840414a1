import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["k8s_assets_tests.fixtures_postgres", "k8s_assets_tests.fixtures_simulator",
                  "k8s_assets_tests.fixtures_kube", "k8s_assets_tests.fixtures_install"]


def pytest_configure(config):
    # Every session of a user shares /tmp/pytest-of-<user>, and each new one deletes all but the
    # three newest session directories there, even those of sessions still running: with two
    # test runs at once (two checkouts), one run's embedded PostgreSQL lost its data directory
    # mid-run and shut down. A directory of its own per session, removed when the session passes.
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="k8s-assets-tests-")
        config._k8s_assets_own_basetemp = Path(config.option.basetemp)


@pytest.hookimpl(trylast=True)  # after the session's fixtures (servers in it) are torn down
def pytest_sessionfinish(session, exitstatus):
    own = getattr(session.config, "_k8s_assets_own_basetemp", None)
    if own is not None and exitstatus == 0:
        shutil.rmtree(own, ignore_errors=True)
