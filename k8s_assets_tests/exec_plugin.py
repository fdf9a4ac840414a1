"""A kubeconfig ``exec`` credential plugin for the tests, like ``aws eks get-token``.

Each run mints a token and appends it, with when it was issued and the expiry it was given, to
the JSON-lines file K8S_ASSETS_TEST_ISSUED, which the tests' token webhook reads to decide what
the API server accepts. The expiry (``expirationTimestamp``) is K8S_ASSETS_TEST_TOKEN_SECONDS
after the plugin's clock: a ``Clock`` file named by K8S_ASSETS_TEST_CLOCK that the test moves
on, or wall time without one. The kubernetes client compares that expiry with its own clock,
which a test moves with the same file (``Clock.drive_client``), so the client renews a token
exactly when the test says, however fast or slow the listing runs. K8S_ASSETS_TEST_OMIT_EXPIRY=1
leaves ``expirationTimestamp`` out, as some plugins do.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import secrets
import time
from pathlib import Path


class Clock:
    """A clock that stands still until ``advance``: the current time, in a file both the plugin
    (another process) and the test's client read."""

    def __init__(self, path: Path, start: float | None = None) -> None:
        self.path = Path(path)
        if start is not None:
            self.path.write_text(repr(start))

    def now(self) -> float:
        return float(self.path.read_text())

    def advance(self, seconds: float) -> None:
        moved = self.path.with_suffix(".new")
        moved.write_text(repr(self.now() + seconds))
        os.replace(moved, self.path)  # a plugin starting now reads the old time or the new, whole

    def drive_client(self, monkeypatch) -> None:
        """Make the kubernetes client's credential loaders tell the time by this clock.

        Only their ``datetime`` is replaced; their own rules stay what is tested: the kubeconfig
        loader runs the plugin again once the token is within 5 minutes
        (``EXPIRY_SKEW_PREVENTION_DELAY``) of its ``expirationTimestamp``; the in-cluster loader
        reads the token file again a minute after it last did (never, while the clock stands).
        """
        from types import SimpleNamespace

        from kubernetes.config import incluster_config, kube_config

        clock = self

        class ClientDatetime(datetime.datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.datetime.fromtimestamp(clock.now(), tz)

        fake = SimpleNamespace(**{name: getattr(datetime, name) for name in dir(datetime) if not name.startswith("__")})
        fake.datetime = ClientDatetime
        monkeypatch.setattr(kube_config, "datetime", fake)
        monkeypatch.setattr(incluster_config, "datetime", fake)


def main() -> None:
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
    clock = os.environ.get("K8S_ASSETS_TEST_CLOCK")
    now = Clock(Path(clock)).now() if clock else time.time()
    expires = now + float(os.environ["K8S_ASSETS_TEST_TOKEN_SECONDS"])
    token = "plugin-" + secrets.token_urlsafe(24)
    with open(os.environ["K8S_ASSETS_TEST_ISSUED"], "a") as issued:
        issued.write(json.dumps({"token": token, "issued": time.time(), "expires": expires}) + "\n")
    status = {"token": token}
    if os.environ.get("K8S_ASSETS_TEST_OMIT_EXPIRY") != "1":
        # RFC 3339 in whole seconds, rounded down: the client's view of the expiry is never later.
        status["expirationTimestamp"] = datetime.datetime.fromtimestamp(math.floor(expires),
                                                                        datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps({"apiVersion": info.get("apiVersion", "client.authentication.k8s.io/v1"),
                      "kind": "ExecCredential", "status": status}))


if __name__ == "__main__":
    main()
