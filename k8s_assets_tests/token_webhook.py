"""A token webhook for a real kube-apiserver that enforces token expiry (tests only).

kube-apiserver, started with ``--authentication-token-webhook-config-file``, sends every bearer
token it does not know itself to this HTTPS server as a TokenReview. A token is accepted while
it is registered and not expired: registered by the exec plugin (exec_plugin.py appends to
``issued``) or by a test (``register``), withdrawn by ``revoke``. Every review is recorded, so a
test can show which token each request was made with.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from k8s_assets.simulator.kubeconfig import TLSMaterial

USER = "exec-user"


@dataclass
class Review:
    at: float
    token: str
    accepted: bool


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

    def tokens(self) -> dict[str, dict]:
        lines = self.issued.read_text().splitlines()
        return {entry["token"]: entry for entry in map(json.loads, filter(None, lines))}

    def valid(self, token: str) -> bool:
        entry = self.tokens().get(token)
        return entry is not None and token not in self._revoked and time.time() < entry["expires"]

    def register(self, token: str, seconds: float = 3600) -> None:
        with self.issued.open("a") as issued:
            issued.write(json.dumps({"token": token, "issued": time.time(), "expires": time.time() + seconds}) + "\n")

    def revoke(self, token: str) -> None:
        self._revoked.add(token)

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
