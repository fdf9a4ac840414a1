"""A token webhook for a real kube-apiserver, whose tokens expire when a test says so (tests only).

kube-apiserver, started with ``--authentication-token-webhook-config-file``, sends every bearer
token it does not know itself to this HTTPS server as a TokenReview. A token is accepted while
it is registered and not revoked: registered by the exec plugin (exec_plugin.py appends to
``issued``) or by a test (``register``), withdrawn by ``revoke``. Nothing here expires by the
clock: a test decides when a token expires, so no verdict depends on how fast a listing runs.

Revoking is not enough to make the API server refuse a token: it was observed to accept a
token for about 10 s after the webhook first accepted it, even with the webhook cache TTL 0
(kube-apiserver keeps successful token authentications of its own). ``expire`` therefore
revokes and then asks the API server with that token until it answers 401: when it returns,
the token has really expired where it matters.

Every review is recorded in order; tests find theirs by position (``mark``), never by time.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import urllib3
import yaml

from k8s_assets.simulator.kubeconfig import TLSMaterial

USER = "exec-user"
# How long ``expire`` asks before it gives up: far beyond the ~10 s observed; never a verdict
# on speed, only what stops a server that never refuses the token from hanging the test.
EXPIRE_TIMEOUT = 180.0


@dataclass
class Review:
    at: float  # wall time, for the timeline a test prints; no assertion uses it
    token: str
    accepted: bool


@dataclass
class Expiry:
    """One token made to expire: the reviews ``expire``'s own requests caused are ``reviews[start:end]``."""

    token: str
    start: int
    end: int
    asked: int  # requests made with the token until the API server refused it


@dataclass
class TokenWebhook:
    issued: Path  # JSON lines {"token", "issued", "expires"}, appended by the exec plugin
    reviews: list[Review] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tls = TLSMaterial.generate()
        self.issued.touch()
        self._revoked: set[str] = set()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                token = review["spec"]["token"]
                accepted = webhook.valid(token)
                webhook.reviews.append(Review(time.time(), token, accepted))
                status = {"authenticated": accepted}
                if accepted:
                    status["user"] = {"username": USER, "uid": USER, "groups": ["exec-users"]}
                body = json.dumps({"apiVersion": review["apiVersion"], "kind": "TokenReview",
                                   "status": status}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = self.tls.server_context().wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def issued_tokens(self) -> list[dict]:
        """Every token registered or minted, in the order they were."""
        lines = self.issued.read_text().splitlines()
        return [json.loads(line) for line in lines if line]

    def tokens(self) -> dict[str, dict]:
        return {entry["token"]: entry for entry in self.issued_tokens()}

    def valid(self, token: str) -> bool:
        return token in self.tokens() and token not in self._revoked

    def register(self, token: str) -> None:
        with self.issued.open("a") as issued:
            issued.write(json.dumps({"token": token, "issued": time.time()}) + "\n")

    def revoke(self, token: str) -> None:
        self._revoked.add(token)

    def mark(self) -> tuple[int, int]:
        """Where the reviews and the issued tokens stand: what a test causes comes after."""
        return len(self.reviews), len(self.issued_tokens())

    def expire(self, server: str, ca_pem: bytes, token: str, timeout: float = EXPIRE_TIMEOUT) -> Expiry:
        """Revoke ``token`` and return once the API server at ``server`` refuses it (401).

        Waits on that condition, however long the API server's own cache takes; ``timeout`` only
        ends a test whose server never refuses it.
        """
        self.revoke(token)
        start = len(self.reviews)
        http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=ca_pem.decode())
        deadline = time.monotonic() + timeout
        asked = 0
        while True:
            try:
                asked += 1
                status = http.request("GET", f"{server}/api", headers={"Authorization": f"Bearer {token}"},
                                      timeout=10.0, retries=False).status
            except urllib3.exceptions.HTTPError:
                status = None  # a busy machine: ask again
            if status == 401:
                return Expiry(token, start, len(self.reviews), asked)
            if time.monotonic() > deadline:
                raise AssertionError(f"kube-apiserver still accepted a revoked token after {timeout:.0f}s "
                                     f"({asked} requests, last answer {status})")
            time.sleep(0.2)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def apiserver_args(self, directory: Path) -> tuple[str, ...]:
        """kube-apiserver flags: ask this webhook, and cache no answer (every request is reviewed)."""
        config = directory / "token-webhook.kubeconfig"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "webhook",
            "clusters": [{"name": "webhook", "cluster": {
                "server": f"https://127.0.0.1:{self._server.server_address[1]}/authenticate",
                "certificate-authority-data": base64.b64encode(self.tls.ca_pem).decode()}}],
            "users": [{"name": "kube-apiserver", "user": {}}],
            "contexts": [{"name": "webhook", "context": {"cluster": "webhook", "user": "kube-apiserver"}}],
        }))
        return ("--authentication-token-webhook-config-file", str(config),
                "--authentication-token-webhook-cache-ttl", "0s")
