"""TLS end to end: implicit TLS, STARTTLS, TLS behind HAProxy (passthrough and terminating)."""
import socket
import ssl
import subprocess
import time

import pytest

from peers import connect_from, free_port

HOST = "127.0.0.1"


def server_config(listeners, extra_server="", extra=""):
    return (f'[server]\nhostname = "mx.postern.test"\ndata-dir = "{{data_dir}}"\nworkers = 2\n'
            f'{extra_server}\n{extra}\n{listeners}')


def listener(name, port, protocol="imap", implicit=False, proxied=False, extra="",
             proxy_extra=""):
    """proxied: 127.0.0.1 (where HAProxy and hand-written headers come from) is trusted."""
    trust = (f'[server.listener."{name}".proxy]\ntrusted-networks = ["127.0.0.1"]\n{proxy_extra}'
             if proxied else "")
    return (f'[server.listener."{name}"]\nbind = "{HOST}:{port}"\nprotocol = "{protocol}"\n'
            f'tls.implicit = {"true" if implicit else "false"}\n{extra}\n{trust}')


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_until(sock, marker, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_implicit_tls_greets_over_tls(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("imaps", port, implicit=True)))
    with connect_from("127.0.0.2", HOST, port) as raw:
        with client_context().wrap_socket(raw, server_hostname="mx.postern.test") as sock:
            assert read_until(sock, b"\r\n").startswith(b"* OK")
            sock.sendall(b"a1 CAPABILITY\r\n")
            caps = read_until(sock, b"a1 OK")
            assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
            version = sock.version()
    event = srv.wait_event("tls_established", listener="imaps")
    assert event["client"].startswith("127.0.0.2:")
    assert event["tls_version"] == version
    assert event["sni"] == "mx.postern.test"
    assert "self-signed" in srv.wait_event("tls_certificates")["msg"]


def test_openssl_s_client_implicit_and_starttls(start_postern):
    implicit, plain = free_port(), free_port()
    start_postern(server_config(listener("imaps", implicit, implicit=True)
                                + listener("imap", plain)))
    for args in (["-connect", f"{HOST}:{implicit}"],
                 ["-starttls", "imap", "-connect", f"{HOST}:{plain}"]):
        out = subprocess.run(["openssl", "s_client", "-brief", "-ign_eof", *args],
                             input=b"a1 CAPABILITY\r\na2 LOGOUT\r\n", capture_output=True,
                             timeout=15)
        text = out.stdout.decode() + out.stderr.decode()
        assert "Protocol version: TLSv1.3" in text, text
        assert "a2 OK LOGOUT" in text, text


def test_starttls_discards_pipelined_plaintext(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("imap", port)))
    with connect_from("127.0.0.2", HOST, port) as raw:
        greeting = read_until(raw, b"\r\n")
        assert b"STARTTLS" in greeting and b"LOGINDISABLED" in greeting
        # The injected command shares the packet with STARTTLS; it must never run.
        raw.sendall(b"a1 STARTTLS\r\na2 LOGOUT\r\n")
        assert read_until(raw, b"a1 OK").startswith(b"a1 OK")
        with client_context().wrap_socket(raw, server_hostname="mx.postern.test") as sock:
            sock.sendall(b"a3 CAPABILITY\r\n")
            reply = read_until(sock, b"a3 OK")
            assert b"a2" not in reply and b"BYE" not in reply
            assert b"STARTTLS" not in reply and b"LOGINDISABLED" not in reply
    assert srv.wait_event("starttls_pipelined")["discarded_bytes"] == str(len(b"a2 LOGOUT\r\n"))
    assert srv.wait_event("tls_established", starttls="true")


def test_failed_handshake_names_the_real_client(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("imaps", port, implicit=True, proxied=True)))
    with connect_from("127.0.0.1", HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 127.0.0.44 127.0.0.1 4000 993\r\n")
        sock.sendall(b"this is not a TLS ClientHello\r\n")
        sock.settimeout(5)
        assert sock.recv(100) == b""
    event = srv.wait_event("tls_failed")
    assert event["client"] == "127.0.0.44:4000"
    assert event["reason"]


def test_handshake_deadline(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("imaps", port, implicit=True),
                                      extra='[server.tls]\ntimeout = "1s"\n'))
    with connect_from("127.0.0.2", HOST, port) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started >= 0.9
    srv.wait_event("tls_timeout")


def test_tls_1_1_is_refused_by_default(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("imaps", port, implicit=True)))
    ctx = client_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with connect_from("127.0.0.2", HOST, port) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="mx.postern.test") as sock:
                sock.recv(10)
    srv.wait_event("tls_failed")


@pytest.mark.requires("haproxy")
def test_haproxy_passthrough_to_implicit_tls(start_postern, start_haproxy):
    backend, front = free_port(), free_port()
    srv = start_postern(server_config(listener("imaps", backend, implicit=True, proxied=True)))
    start_haproxy(f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen imaps
    bind {HOST}:{front}
    server postern {HOST}:{backend} send-proxy-v2
""")
    with connect_from("127.0.0.2", HOST, front) as raw:
        client_port = raw.getsockname()[1]
        with client_context().wrap_socket(raw, server_hostname="mx.postern.test") as sock:
            assert read_until(sock, b"\r\n").startswith(b"* OK")
    event = srv.wait_event("tls_established", client=f"127.0.0.2:{client_port}")
    assert event["proxy"].startswith("127.0.0.1:")


def test_certificates_from_config_with_sni(start_postern, cert_factory):
    one, two = cert_factory("mail.one.test"), cert_factory("mail.two.test")
    port = free_port()
    certs = (f'[certificate.one]\ncert = "%{{file:{one.cert}}}%"\n'
             f'private-key = "%{{file:{one.key}}}%"\ndefault = true\n'
             f'[certificate.two]\ncert = "%{{file:{two.cert}}}%"\n'
             f'private-key = "%{{file:{two.key}}}%"\n')
    start_postern(server_config(listener("imaps", port, implicit=True), extra=certs))
    for name, expect in (("mail.two.test", "mail.two.test"), ("mail.one.test", "mail.one.test"),
                         ("unknown.test", "mail.one.test")):
        with connect_from("127.0.0.2", HOST, port) as raw:
            with client_context().wrap_socket(raw, server_hostname=name) as sock:
                der = sock.getpeercert(binary_form=True)
        pem = ssl.DER_cert_to_PEM_cert(der)
        subject = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem.encode(),
                                 capture_output=True).stdout.decode()
        assert expect in subject, (name, subject)


def test_sighup_reloads_certificates_without_dropping_sessions(start_postern, cert_factory,
                                                               workdir):
    import os
    import shutil
    import signal
    first, second = cert_factory("first.test"), cert_factory("second.test")
    live_cert, live_key = workdir / "live.crt", workdir / "live.key"
    shutil.copy(first.cert, live_cert)
    shutil.copy(first.key, live_key)
    port = free_port()
    certs = (f'[certificate.live]\ncert = "%{{file:{live_cert}}}%"\n'
             f'private-key = "%{{file:{live_key}}}%"\n')
    srv = start_postern(server_config(listener("imaps", port, implicit=True), extra=certs))

    def subject_of(sock):
        pem = ssl.DER_cert_to_PEM_cert(sock.getpeercert(binary_form=True))
        return subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem.encode(),
                              capture_output=True).stdout.decode()

    held_raw = connect_from("127.0.0.2", HOST, port)
    held = client_context().wrap_socket(held_raw, server_hostname="x")
    try:
        assert "first.test" in subject_of(held)
        read_until(held, b"\r\n")
        shutil.copy(second.cert, live_cert)
        shutil.copy(second.key, live_key)
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "second.test" not in " ".join(e["msg"] for e in srv.events("tls_certificates")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with connect_from("127.0.0.3", HOST, port) as raw:
            with client_context().wrap_socket(raw, server_hostname="x") as sock:
                assert "second.test" in subject_of(sock)
        held.sendall(b"a1 NOOP\r\n")  # the established session still works
        assert b"a1 OK" in read_until(held, b"a1 OK")
    finally:
        held.close()


def test_check_rejects_bad_certificates(run_postern, workdir, cert_factory):
    good, other = cert_factory("good.test"), cert_factory("other.test")
    cases = [
        (f'cert = "not a certificate"\nprivate-key = "%{{file:{good.key}}}%"\n',
         "certificate.bad: cert: not a PEM certificate"),
        (f'cert = "%{{file:{good.cert}}}%"\nprivate-key = "%{{file:{other.key}}}%"\n',
         "certificate.bad: private-key: does not match the certificate"),
        (f'cert = "%{{file:{good.cert}}}%"\n', "certificate.bad: missing required key private-key"),
    ]
    for body, message in cases:
        path = workdir / "bad.toml"
        path.write_text(f"[certificate.bad]\n{body}")
        out = run_postern("check", "--config", path)
        assert out.returncode == 1
        assert message in out.stderr.decode(), out.stderr.decode()
    path.write_text('[server.tls]\nprotocols = ["TLSv1.3", "SSLv3"]\n')
    out = run_postern("check", "--config", path)
    assert out.returncode == 1 and "server.tls.protocols" in out.stderr.decode()


# ---- SMTP over TLS: STARTTLS, implicit TLS, TLS terminated at HAProxy ----

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def account_secret():
    from peers import postern_binary
    proc = subprocess.run([postern_binary(), "hash-password", "--scheme", "sha512"],
                          input=PASSWORD.encode() + b"\n", capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().strip()


def smtp_config(listeners, secret):
    account = (f'[[directory.accounts]]\nname = "alice"\nsecret = "{secret}"\n'
               f'email = ["alice@postern.test"]\n')
    return server_config(listeners, extra=account)


def smtp_reply(sock):
    sock.settimeout(5)
    data = b""
    while not any(len(l) >= 4 and l[3:4] == b" " for l in data.split(b"\r\n")[:-1]):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data.decode()


def ehlo_extensions(sock):
    assert smtp_reply(sock).startswith("220 ")
    sock.sendall(b"EHLO client.test\r\n")
    return smtp_reply(sock)


def haproxy_tls_front(front, backend, cert, server_opts):
    return f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen smtps
    bind {HOST}:{front} ssl crt {cert.pem}
    server postern {HOST}:{backend} {server_opts}
"""


@pytest.mark.requires("haproxy", "openssl")
def test_tls_at_haproxy_with_ssl_tlv_offers_auth_not_starttls(start_postern, start_haproxy,
                                                              cert_factory, account_secret):
    backend, front = free_port(), free_port()
    srv = start_postern(smtp_config(listener("smtp", backend, protocol="smtp", proxied=True),
                                    account_secret))
    start_haproxy(haproxy_tls_front(front, backend, cert_factory("mx.postern.test"),
                                    "send-proxy-v2-ssl-cn"))
    with connect_from("127.0.0.2", HOST, front) as raw:
        with client_context().wrap_socket(raw, server_hostname="mx.postern.test") as sock:
            ext = ehlo_extensions(sock)
            assert "AUTH PLAIN LOGIN" in ext and "STARTTLS" not in ext, ext
            import base64
            token = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
            sock.sendall(f"AUTH PLAIN {token}\r\n".encode())
            assert smtp_reply(sock).startswith("235 ")
            sock.sendall(b"MAIL FROM:<alice@postern.test>\r\nRCPT TO:<alice@postern.test>\r\n"
                         b"DATA\r\n")
            assert b"354 " in read_until(sock, b"354 ")
            sock.sendall(b"Subject: via TLS at the proxy\r\n\r\nhello\r\n.\r\n")
            assert smtp_reply(sock).startswith("250 ")
            version = sock.version()
    event = srv.wait_event("connect", tls="proxy")
    assert event["client"].startswith("127.0.0.2:") and event["tls_version"] == version
    import glob
    [path] = glob.glob(f"{srv.dir}/data/alice/new/*")
    received = open(path, "rb").read().decode()
    assert "with ESMTPSA" in received and f"version={version}" in received, received
    assert "[127.0.0.2]" in received


@pytest.mark.requires("haproxy", "openssl")
def test_tls_at_haproxy_without_ssl_tlv_offers_starttls_not_auth(start_postern, start_haproxy,
                                                                 cert_factory, account_secret):
    backend, front = free_port(), free_port()
    start_postern(smtp_config(listener("smtp", backend, protocol="smtp", proxied=True),
                              account_secret))
    start_haproxy(haproxy_tls_front(front, backend, cert_factory("mx.postern.test"),
                                    "send-proxy-v2"))
    with connect_from("127.0.0.2", HOST, front) as raw:
        with client_context().wrap_socket(raw, server_hostname="mx.postern.test") as sock:
            ext = ehlo_extensions(sock)
    # postern cannot know the client used TLS: it must not accept passwords.
    assert "STARTTLS" in ext and "AUTH" not in ext, ext


@pytest.mark.requires("haproxy", "openssl")
def test_tls_at_haproxy_with_assume_tls_offers_auth(start_postern, start_haproxy, cert_factory,
                                                    account_secret):
    backend, front = free_port(), free_port()
    start_postern(smtp_config(listener("smtp", backend, protocol="smtp", proxied=True,
                                       proxy_extra="assume-tls = true\n"), account_secret))
    start_haproxy(haproxy_tls_front(front, backend, cert_factory("mx.postern.test"),
                                    "send-proxy-v2"))
    with connect_from("127.0.0.2", HOST, front) as raw:
        with client_context().wrap_socket(raw, server_hostname="mx.postern.test") as sock:
            ext = ehlo_extensions(sock)
    assert "AUTH PLAIN LOGIN" in ext and "STARTTLS" not in ext, ext


def test_smtp_openssl_starttls_and_implicit_tls(start_postern, account_secret):
    plain, implicit = free_port(), free_port()
    srv = start_postern(smtp_config(listener("smtp", plain, protocol="smtp")
                                    + listener("smtps", implicit, protocol="smtp",
                                               implicit=True), account_secret))
    out = subprocess.run(["openssl", "s_client", "-brief", "-ign_eof", "-starttls", "smtp",
                          "-connect", f"{HOST}:{plain}"],
                         input=b"EHLO client.test\r\nQUIT\r\n", capture_output=True, timeout=15)
    text = out.stdout.decode() + out.stderr.decode()
    assert "Protocol version: TLSv1.3" in text and "AUTH PLAIN LOGIN" in text, text
    # stdout holds only what came after the handshake: the new EHLO must not offer STARTTLS.
    assert "STARTTLS" not in out.stdout.decode(), text
    with connect_from("127.0.0.2", HOST, implicit) as raw:
        with client_context().wrap_socket(raw, server_hostname="mx.postern.test") as sock:
            ext = ehlo_extensions(sock)
    assert "AUTH PLAIN LOGIN" in ext and "STARTTLS" not in ext
    srv.wait_event("tls_established", listener="smtps", starttls="false")
