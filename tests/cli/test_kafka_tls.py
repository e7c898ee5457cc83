"""Connection failures name their first cause (issue 13): a broker certificate that has
expired, one made out to another host, one from an unknown issuer, and a port where no
broker listens. Each used to read alike ("broker certificate could not be verified", or
no answer after admin.timeout_ms); now the command stops with OpenSSL's reason, the
certificate's subject and the host expected, and a refused certificate stops it at once
instead of after the timeout.

No broker is needed: a TLS server in this process presents the certificate, and the
client's verdict is all that matters. Certificates are made here with `cryptography`
(a dependency of confluent-kafka's schema registry client in tests/requirements.txt).
"""
import datetime
import socket
import ssl
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest_common import BACKLOGD, SOURCE_DIR, clean_env

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def make_cert(subject_cn, issuer=None, not_before=NOW - DAY, not_after=NOW + DAY, hosts=()):
    """A certificate and key for @subject_cn, signed by @issuer (cert, key) or by itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after))
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if hosts:
        import ipaddress
        names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256()), key


def write_pem(path, cert, key=None):
    data = cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    path.write_bytes(data)
    return path


class TlsServer:
    """Accepts connections and offers @cert in the handshake; nothing more."""

    def __init__(self, pem_path):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pem_path)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.running = True
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.listener.settimeout(0.2)
        while self.running:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    def stop(self):
        self.running = False
        self.listener.close()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = make_cert("backlogd test CA")
    return cert, key, write_pem(directory / "ca.pem", cert), directory


def topics_check(port, ca_path, **settings):
    """`backlogd topics create --dry-run` against 127.0.0.1:@port over TLS; (exit code, stderr, seconds)."""
    settings = {"BACKLOGD_ADMIN_TIMEOUT_MS": 20000, **settings}
    env = clean_env(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
                    BACKLOGD_KAFKA_SECURITY_PROTOCOL="SSL", BACKLOGD_KAFKA_SSL_CA_LOCATION=str(ca_path),
                    BACKLOGD_SCHEMAS_DIR=SOURCE_DIR / "schemas", **settings)
    started = time.monotonic()
    result = subprocess.run([BACKLOGD, "topics", "create", "--dry-run"], env=env, capture_output=True,
                            text=True, timeout=60)
    return result.returncode, result.stderr, time.monotonic() - started


def served(ca, name, **cert_settings):
    cert, key = make_cert(name, issuer=(ca[0], ca[1]), **cert_settings)
    return TlsServer(write_pem(ca[3] / f"{name}.pem", cert, key))


def test_expired_certificate_says_so(ca):
    server = served(ca, "expired-broker", not_before=NOW - 10 * DAY, not_after=NOW - 2 * DAY,
                    hosts=["127.0.0.1"])
    try:
        code, stderr, seconds = topics_check(server.port, ca[2])
    finally:
        server.stop()
    assert code != 0
    assert "certificate has expired" in stderr, stderr
    assert "subject CN=expired-broker" in stderr and "valid until" in stderr, stderr
    assert seconds < 15, f"a refused certificate must not wait out admin.timeout_ms ({seconds:.1f} s)"


def test_other_hosts_certificate_names_the_host_expected(ca):
    server = served(ca, "other-broker", hosts=["kafka-0.elsewhere.example"])
    try:
        code, stderr, seconds = topics_check(server.port, ca[2])
    finally:
        server.stop()
    assert code != 0
    assert "address mismatch" in stderr.lower(), stderr  # OpenSSL: "IP address mismatch"
    assert f"does not name 127.0.0.1:{server.port} (it names kafka-0.elsewhere.example)" in stderr, stderr
    assert "subject CN=other-broker" in stderr, stderr
    assert seconds < 15


def test_unknown_issuer_is_not_called_expired(ca):
    cert, key = make_cert("self-signed-broker", hosts=["127.0.0.1"])
    server = TlsServer(write_pem(ca[3] / "self.pem", cert, key))
    try:
        code, stderr, _ = topics_check(server.port, ca[2])
    finally:
        server.stop()
    assert code != 0
    assert "self-signed certificate" in stderr or "unable to get local issuer" in stderr, stderr
    assert "expired" not in stderr and "mismatch" not in stderr.lower()


def test_no_broker_names_the_refused_connection(ca):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, stderr, _ = topics_check(port, ca[2], BACKLOGD_ADMIN_TIMEOUT_MS=3000)
    assert code != 0
    assert "Connection refused" in stderr, stderr
    assert f"127.0.0.1:{port}" in stderr
