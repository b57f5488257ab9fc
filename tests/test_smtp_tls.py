"""SMTP with STARTTLS and a login, against a real server with its own certificate."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.alerting import Inbox, free_port
from webapp.alerts import smtp


def self_signed(folder) -> tuple:
    """A certificate for 127.0.0.1 and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def message() -> EmailMessage:
    """A small message."""
    mail = EmailMessage()
    mail["From"] = "AutoTrader <alerts@example.com>"
    mail["To"] = "trader@example.com"
    mail["Subject"] = "test"
    mail.set_content("hello\n")
    return mail


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """A server that offers STARTTLS and accepts one login only over TLS."""
    cert_path, key_path = self_signed(tmp_path)
    # The client verifies certificates against the default store; trust this one there.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"p@ss word")

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    yield port, inbox, logins
    controller.stop()


def test_starttls_then_login_then_send(tls_server):
    port, inbox, logins = tls_server
    server = smtp.parse_url(f"smtp://me%40example.com:p%40ss%20word@127.0.0.1:{port}")
    assert server is not None and server.user == "me@example.com"
    assert "p@ss word" not in repr(server)
    smtp.send(server, message())
    [(rcpt, received)] = inbox.take()
    assert rcpt == ["trader@example.com"] and received["Subject"] == "test"
    assert logins == [(b"me@example.com", b"p@ss word")]


def test_no_password_over_a_clear_connection_to_another_host(monkeypatch):
    from tests.alerting import SmtpServer

    plain = SmtpServer()  # offers no STARTTLS
    plain.start()
    try:
        monkeypatch.setattr(smtp, "_LOOPBACK", set())  # treat 127.0.0.1 as a remote host
        server = smtp.parse_url(f"smtp://me:secret@127.0.0.1:{plain.port}")
        with pytest.raises(smtp.InsecureLogin):
            smtp.send(server, message())
        assert plain.inbox.take() == []
    finally:
        plain.stop()
