"""TLS material and kubeconfig files for simulated clusters.

One throwaway certificate authority per simulator signs a server certificate for the
loopback names (127.0.0.1, ::1, localhost); its certificate goes into every cluster's
``certificate-authority-data``, so clients verify TLS as they would against kind or k3d.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TLSMaterial:
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes

    @classmethod
    def generate(cls) -> TLSMaterial:
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365)

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-assets-simulator-ca")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )

        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("::1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
            server_cert_pem=server_cert.public_bytes(serialization.Encoding.PEM),
            server_key_pem=server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain only reads files; the key lives on disk only for this call.
        with tempfile.TemporaryDirectory(prefix="k8s-assets-sim-tls-") as directory:
            chain = Path(directory) / "server.pem"
            chain.touch(mode=0o600)
            chain.write_bytes(self.server_cert_pem + self.server_key_pem)
            context.load_cert_chain(chain)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem.decode())


@dataclass(frozen=True)
class KubeconfigEntry:
    """One context of the kubeconfig: its cluster (server, optional CA) and user (token)."""

    context_name: str
    cluster_name: str
    user_name: str
    server: str
    token: str
    ca_pem: bytes | None


def render_kubeconfig(entries: list[KubeconfigEntry]) -> str:
    clusters, users, contexts = [], [], []
    for entry in entries:
        cluster: dict = {"server": entry.server}
        if entry.ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(entry.ca_pem).decode()
        clusters.append({"name": entry.cluster_name, "cluster": cluster})
        users.append({"name": entry.user_name, "user": {"token": entry.token}})
        contexts.append({"name": entry.context_name, "context": {"cluster": entry.cluster_name, "user": entry.user_name}})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": entries[0].context_name if entries else "",
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_kubeconfig(path: str | os.PathLike, entries: list[KubeconfigEntry]) -> Path:
    """Write atomically with owner-only permissions: the file holds bearer tokens."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(render_kubeconfig(entries))
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path
