"""Real Kubernetes API servers for the tests: upstream kube-apiserver and etcd on loopback.

The binaries are built on this machine from source by ``scripts/build-kube-servers.sh`` into
``~/.cache/k8s-assets/kube/<version>/`` (``K8S_ASSETS_KUBE_CACHE`` moves it): the current
release from Go modules and the oldest release we support from Debian's source package. A
version that is not built skips locally and fails in CI, like every other tool.

There is no controller manager and no scheduler: what the server stores is exactly what the
tests create through the official client, with the uids, resourceVersions, defaults and
managedFields the server itself assigns.
"""

from __future__ import annotations

import base64
import datetime
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import urllib3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from k8s_assets.simulator.kubeconfig import KubeconfigEntry, TLSMaterial, write_kubeconfig
from k8s_assets_tests.fixtures_postgres import skip_or_fail

KUBE_CACHE = Path(os.environ.get("K8S_ASSETS_KUBE_CACHE") or Path.home() / ".cache" / "k8s-assets" / "kube")
# The current release (Go modules) and the oldest we support (Debian's source package).
CURRENT, OLDEST = "v1.37.2", "v1.20.2"
REAL_VERSIONS = (CURRENT, OLDEST)
READY_TIMEOUT = 90.0
# What must answer 200 before a server is handed to a test (see _wait_until_ready).
READY_PATHS = ("/readyz", "/api/v1/namespaces/default", "/api/v1/namespaces/kube-system")

# Users of the token file. The reader may read one namespace (and the kube-system namespace
# object, which gives the cluster its identity); nobody may read nothing at all.
ADMIN, READER, NOBODY = "admin", "reader", "nobody"
READER_NAMESPACE = "team-a"


def binaries(version: str) -> Path | None:
    """The directory holding a finished build of ``version``, or None."""
    directory = KUBE_CACHE / version
    if (directory / "BUILT").is_file() and (directory / "kube-apiserver").is_file() and (directory / "etcd").is_file():
        return directory
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RealKubeServer:
    """One etcd and one kube-apiserver of a given version, on loopback ports, in ``workdir``."""

    version: str
    workdir: Path
    etcd_port: int = 0
    api_port: int = 0
    extra_args: tuple[str, ...] = ()  # more kube-apiserver flags (a token webhook, say)

    def __post_init__(self) -> None:
        self.bin = binaries(self.version)
        self.tls = TLSMaterial.generate()
        self.tokens = {user: base64.b32encode(os.urandom(20)).decode().lower() for user in (ADMIN, READER, NOBODY)}
        self._processes: list[subprocess.Popen] = []

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def short(self) -> str:
        """``v1.37`` from ``v1.37.2``: the version in context names."""
        return self.version.rsplit(".", 1)[0]

    def context(self, user: str = ADMIN) -> str:
        return f"real-{self.short}" + ("" if user == ADMIN else f"-{user}")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.etcd_port, peer_port, self.api_port = free_port(), free_port(), free_port()
        # etcd's data on tmpfs where there is one: fsync on a shared disk is what makes etcd slow.
        shm = Path("/dev/shm")
        data = (shm if shm.is_dir() and os.access(shm, os.W_OK) else self.workdir) / f"etcd-{os.getpid()}-{self.api_port}"
        self._etcd_data = data
        etcd_url, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{peer_port}"
        self._spawn("etcd", [
            str(self.bin / "etcd"), "--name", "default", "--data-dir", str(data),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"default={peer_url}", "--quota-backend-bytes", str(8 * 1024 ** 3),
            "--log-level", "warn",
        ])
        files = self._write_files()
        self._spawn("kube-apiserver", [
            str(self.bin / "kube-apiserver"),
            "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--secure-port", str(self.api_port),
            "--advertise-address", "127.0.0.1",
            "--tls-cert-file", str(files["cert"]), "--tls-private-key-file", str(files["key"]),
            "--client-ca-file", str(files["ca"]),
            "--token-auth-file", str(files["tokens"]),
            "--authorization-mode", "RBAC",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(files["sa_public"]),
            "--service-account-signing-key-file", str(files["sa_private"]),
            "--service-cluster-ip-range", "10.0.0.0/24",
            "--disable-admission-plugins", "ServiceAccount",
            "--endpoint-reconciler-type", "none",
            *self.extra_args,
        ])
        self._wait_until_ready()

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self._processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        subprocess.run(["rm", "-rf", str(self._etcd_data)], check=False)

    def _apiserver(self) -> subprocess.Popen:
        return next(p for p in self._processes if Path(p.args[0]).name == "kube-apiserver")

    def kill_apiserver(self) -> None:
        """SIGKILL kube-apiserver, as a crash or the OOM killer would; etcd and its data stay."""
        process = self._apiserver()
        process.kill()
        process.wait()

    def restart_apiserver(self, more_args: tuple[str, ...] = ()) -> None:
        """Start kube-apiserver again (killing it first if it runs) with the same flags, port and
        etcd (plus ``more_args``: ``--runtime-config=node.k8s.io/v1=false`` stops serving a group),
        and wait until it is ready."""
        old = self._apiserver()
        if old.poll() is None:
            self.kill_apiserver()
        self._processes.remove(old)
        log = open(self.workdir / "kube-apiserver.log", "ab")  # noqa: SIM115 - owned by the process's lifetime
        self._processes.append(subprocess.Popen([*old.args, *more_args], stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True))
        self._wait_until_ready()

    def __enter__(self) -> RealKubeServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process's lifetime
        self._processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True))

    def _write_files(self) -> dict[str, Path]:
        sa_key = ec.generate_private_key(ec.SECP256R1())
        files = {
            "ca": self.tls.ca_pem,
            "cert": self.tls.server_cert_pem,
            "key": self.tls.server_key_pem,
            "sa_private": sa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()),
            "sa_public": sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo),
            "tokens": "".join(f'{token},{user},{user}-uid,"{"system:masters" if user == ADMIN else "people"}"\n'
                              for user, token in self.tokens.items()).encode(),
        }
        paths = {}
        for name, content in files.items():
            path = self.workdir / f"{name}.pem"
            path.write_bytes(content)
            path.chmod(0o600)
            paths[name] = path
        return paths

    def _wait_until_ready(self) -> None:
        http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=self.tls.ca_pem.decode())
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{self.log_tail()}")
            try:
                # /readyz can answer 200 before the bootstrap controller has created the
                # namespaces (v1.20 does), and tests create objects in `default` and read the
                # identity of `kube-system`: ready means those exist too.
                for path in READY_PATHS:
                    response = http.request("GET", f"{self.server}{path}", timeout=2.0, retries=False,
                                            headers={"Authorization": f"Bearer {self.tokens[ADMIN]}"})
                    if response.status != 200:
                        last = f"{path}: HTTP {response.status}: {response.data[:300]!r}"
                        break
                else:
                    return
            except urllib3.exceptions.HTTPError as e:
                last = str(e)
            time.sleep(0.25)
        raise RuntimeError(f"kube-apiserver {self.version} not ready after {READY_TIMEOUT}s ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("etcd", "kube-apiserver"):
            path = self.workdir / f"{name}.log"
            if path.exists():
                out.append(f"--- {name}.log ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    # -- clients ---------------------------------------------------------------------------

    def kubeconfig_entries(self) -> list[KubeconfigEntry]:
        return [KubeconfigEntry(context_name=self.context(user), cluster_name=f"real-{self.short}",
                                user_name=f"{self.short}-{user}", server=self.server, token=self.tokens[user],
                                ca_pem=self.tls.ca_pem)
                for user in (ADMIN, READER, NOBODY)]

    def write_kubeconfig(self, path: Path) -> Path:
        return write_kubeconfig(path, self.kubeconfig_entries())

    def api_client(self, user: str = ADMIN) -> k8s_client.ApiClient:
        """The official client for one user, as the kubernetes package builds it from a kubeconfig."""
        path = self.workdir / f"kubeconfig-{user}"
        if not path.exists():
            write_kubeconfig(path, [e for e in self.kubeconfig_entries() if e.context_name == self.context(user)])
        return k8s_config.new_client_from_config(config_file=str(path), persist_config=False)

    # -- etcd ------------------------------------------------------------------------------

    def _etcd(self, path: str, body: dict) -> dict:
        response = urllib3.request("POST", f"http://127.0.0.1:{self.etcd_port}{path}", body=orjson.dumps(body),
                                   headers={"Content-Type": "application/json"}, timeout=10.0)
        if response.status != 200:
            raise RuntimeError(f"etcd {path}: HTTP {response.status} {response.data[:300]!r}")
        return orjson.loads(response.data)

    def etcd_revision(self) -> int:
        return int(self._etcd("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"])

    def compact(self) -> int:
        """Compact etcd to its current revision the way kube-apiserver's own compactor does (every
        5 minutes in a real cluster): record the revision under ``compact_rev_key``, which every
        API server watches, then compact. A write first moves the revision past every list the
        API server has served, so continue tokens issued before are then too old."""
        self._etcd("/v3/kv/put", {"key": base64.b64encode(b"/k8s-assets-tests/tick").decode(), "value": ""})
        revision = self.etcd_revision()
        self._etcd("/v3/kv/put", {"key": base64.b64encode(b"compact_rev_key").decode(),
                                  "value": base64.b64encode(str(revision).encode()).decode()})
        self._etcd("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def wait_until_expired(self, url: str, timeout: float = 300.0) -> float:
        """Wait until ``url`` (a list request with a continue token) is answered 410 Expired; the
        seconds it took, for the reader (no verdict may depend on them).

        Since 1.34 the API server serves continue requests from its watch cache's snapshots
        (ListFromCacheSnapshot), which it drops only when its cache compactor, polling every
        15 s, learns of the compaction; before 1.34 etcd answers at once. The server gives no
        signal of it, so this asks until the answer is 410: that condition is what is awaited.
        ``timeout`` only ends the wait for a server that never expires the token, far beyond
        the compactor's period; an answer that is slow or lost on a busy machine is asked again.
        """
        http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=self.tls.ca_pem.decode())
        started = time.monotonic()
        last = "no answer"
        while time.monotonic() - started < timeout:
            try:
                response = http.request("GET", url, headers={"Authorization": f"Bearer {self.tokens[ADMIN]}"},
                                        timeout=30.0, retries=False)
            except urllib3.exceptions.HTTPError as e:
                last = str(e)
            else:
                if response.status == 410:
                    return time.monotonic() - started
                last = f"HTTP {response.status}"
            time.sleep(0.5)
        raise AssertionError(f"{url} was not answered 410 within {timeout:.0f}s of the compaction ({last})")


def real_server(version: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealKubeServer]:
    if binaries(version) is None:
        skip_or_fail(f"kube-apiserver {version} is not built in {KUBE_CACHE}: run scripts/build-kube-servers.sh")
    server = RealKubeServer(version, tmp_path_factory.mktemp(f"kube-{version}"))
    started = time.monotonic()
    with server:
        server.started_in = time.monotonic() - started
        yield server


@pytest.fixture(scope="session", params=REAL_VERSIONS)
def real_kube(request, tmp_path_factory) -> Iterator[RealKubeServer]:
    """A real API server of each supported version, shared by the session's tests."""
    yield from real_server(request.param, tmp_path_factory)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
