"""The metrics listener end to end: `curl` scrapes a real postern while test traffic moves the
counters (connections and PROXY headers by version, invalid headers by reason, untrusted
headers, secure sessions, logins, deliveries and their latency histogram), and the HTTP side
answers what it should (200 text format 0.0.4, 404, 405, 400, HEAD). `postern check` warns
about a metrics listener on a non-loopback address.

Clients reach the proxied listener from 127.0.0.1 (trusted) with hand-written PROXY headers;
untrusted ones come from 127.0.0.2.
"""
import base64
import re
import socket
import subprocess
import time

import pytest

from peers import connect_from, free_port

HOST = "127.0.0.1"
PASSWORD = "correct horse"
SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


@pytest.fixture(scope="module")
def secret():
    from peers import postern_binary
    proc = subprocess.run([postern_binary(), "hash-password", "--scheme", "sha512"],
                          input=PASSWORD + "\n", capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def config(smtp_port, tls_port, metrics_port, secret, metrics_bind=HOST):
    return f"""
[server]
hostname = "mx.postern.test"
data-dir = "{{data_dir}}"
workers = 2

[server.proxy]
trusted-networks = ["127.0.0.1"]
timeout = "1s"

[server.listener."smtp-proxy"]
bind = "{HOST}:{smtp_port}"
protocol = "smtp"

[server.listener."smtp-tls"]
bind = "{HOST}:{tls_port}"
protocol = "smtp"
proxy.assume-tls = true

[server.listener."metrics"]
bind = "{metrics_bind}:{metrics_port}"
protocol = "metrics"

[[directory.accounts]]
name = "alice"
secret = "{secret}"
email = ["alice@example.com"]
"""


@pytest.fixture
def server(start_postern, secret):
    ports = free_port(), free_port(), free_port()
    srv = start_postern(config(*ports, secret))
    return srv, ports


def curl(port, path="/metrics", *args):
    proc = subprocess.run(["curl", "-sS", "-i", "--max-time", "5", *args,
                           f"http://{HOST}:{port}{path}"],
                          capture_output=True, timeout=10)
    assert proc.returncode == 0, proc.stderr.decode()
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body.decode()


def scrape(port):
    """{'name{labels}': value} of every sample, after checking the format line by line."""
    status, headers, body = curl(port)
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in body.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def wait_for(port, predicate, timeout=5.0):
    """Scrapes until predicate(samples) holds; returns the last samples."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if predicate(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def require_core_wiring(port):
    """The core counts connections: a scrape is itself a connection to "metrics"."""
    scrape(port)
    assert 'postern_connections_accepted_total{listener="metrics"}' in scrape(port)


def read_reply(sock):
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data.decode()
        data += chunk
        lines = data.split(b"\r\n")
        if any(len(l) >= 4 and l[3:4] == b" " for l in lines[:-1]):
            return data.decode()


def proxied_session(port, header=b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n"):
    sock = connect_from(HOST, HOST, port)
    sock.settimeout(5)
    sock.sendall(header)
    return sock


def smtp(sock, line):
    sock.sendall(line.encode() + b"\r\n")
    return read_reply(sock)


@pytest.mark.requires("curl")
def test_http_answers(server):
    srv, (_, _, mport) = server
    status, headers, body = curl(mport)
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert int(headers["content-length"]) == len(body.encode())
    assert "# TYPE postern_connections_accepted_total counter" in body
    assert "# TYPE postern_delivery_duration_seconds histogram" in body
    assert 'postern_proxy_headers_total{version="2",command="LOCAL"} 0' in body
    assert curl(mport, "/")[0] == 404
    assert curl(mport, "/metrics/x")[0] == 404
    status, headers, _ = curl(mport, "/metrics", "-X", "POST", "-d", "x=1")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, body = curl(mport, "/metrics", "-I")
    assert status == 200 and body == ""
    # Not HTTP at all: 400 at once, then the connection closes.
    with connect_from("127.0.0.2", HOST, mport) as sock:
        sock.settimeout(5)
        sock.sendall(b"EHLO client.test\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")


@pytest.mark.requires("curl")
def test_connections_and_proxy_headers_move(server, postern_bin):
    srv, (port, _, mport) = server
    require_core_wiring(mport)
    before = scrape(mport)

    def after_traffic():
        for header in (b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n",
                       b"PROXY TCP4 192.0.2.11 127.0.0.1 40001 25\r\n"):
            with proxied_session(port, header) as sock:
                assert read_reply(sock).startswith("220 ")
                assert smtp(sock, "QUIT").startswith("221 ")
        v2 = subprocess.run([postern_bin, "proxy", "encode", "--v2", "--src", "192.0.2.12",
                             "--dst", HOST, "--src-port", "40002", "--dst-port", "25"],
                            capture_output=True, check=True).stdout
        with proxied_session(port, v2) as sock:
            assert read_reply(sock).startswith("220 ")
            assert smtp(sock, "QUIT").startswith("221 ")
        local = subprocess.run([postern_bin, "proxy", "encode", "--v2", "--local"],
                               capture_output=True, check=True).stdout
        with proxied_session(port, local) as sock:
            assert read_reply(sock).startswith("220 ")
        # a broken header from the trusted proxy, and a header from an untrusted client
        with proxied_session(port, b"PROXY TCP4 1.2.3.400 127.0.0.1 1 2\r\n") as sock:
            assert sock.recv(100) == b""
        with connect_from("127.0.0.2", HOST, port) as sock:
            sock.settimeout(5)
            sock.sendall(b"PROXY TCP4 192.0.2.99 127.0.0.1 1 2\r\n")
            read_reply(sock)

    after_traffic()
    delta = lambda s, key: s.get(key, 0) - before.get(key, 0)
    accepted = 'postern_connections_accepted_total{listener="smtp-proxy"}'
    active = 'postern_connections_active{listener="smtp-proxy"}'
    samples = wait_for(mport, lambda s: delta(s, accepted) >= 6 and s.get(active) == 0)
    assert delta(samples, accepted) == 6
    assert samples[active] == 0
    assert delta(samples, 'postern_proxy_headers_total{version="1",command="PROXY"}') == 2
    assert delta(samples, 'postern_proxy_headers_total{version="2",command="PROXY"}') == 1
    assert delta(samples, 'postern_proxy_headers_total{version="2",command="LOCAL"}') == 1
    assert delta(samples, 'postern_proxy_invalid_total{reason="v1_src_addr"}') == 1
    assert delta(samples, 'postern_proxy_invalid_total{reason="not_proxy"}') == 0
    assert delta(samples, "postern_proxy_untrusted_total") == 1
    assert samples["postern_bans_active"] == 0
    # the listener that saw nothing is listed, at zero
    assert samples['postern_connections_accepted_total{listener="smtp-tls"}'] == 0


@pytest.mark.requires("curl")
def test_proxy_timeout_and_missing_header(server):
    srv, (port, _, mport) = server
    require_core_wiring(mport)
    with proxied_session(port, b"PROXY TCP4 192.0.2.10") as sock:  # half a header, then quiet
        assert sock.recv(100) == b""  # closed by server.proxy.timeout (1s)
    with connect_from(HOST, HOST, port) as sock:
        pass  # a health check without a header
    samples = wait_for(mport, lambda s: s["postern_proxy_timeouts_total"] >= 1 and
                       s['postern_proxy_missing_total{reason="no_data"}'] >= 1)
    assert samples["postern_proxy_timeouts_total"] == 1
    assert samples['postern_proxy_missing_total{reason="no_data"}'] == 1


@pytest.mark.requires("curl")
def test_logins_and_deliveries_move(server):
    srv, (_, tls_port, mport) = server
    good = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    bad = base64.b64encode(b"\0alice\0wrong").decode()
    message = "Subject: metrics\r\n\r\nhello\r\n"
    with proxied_session(tls_port) as sock:
        assert read_reply(sock).startswith("220 ")
        assert "AUTH PLAIN" in smtp(sock, "EHLO client.test")  # assume-tls: secure
        assert smtp(sock, f"AUTH PLAIN {bad}").startswith("535 ")
        assert smtp(sock, f"AUTH PLAIN {good}").startswith("235 ")
        assert smtp(sock, "MAIL FROM:<alice@example.com>").startswith("250 ")
        assert smtp(sock, "RCPT TO:<alice@example.com>").startswith("250 ")
        assert smtp(sock, "DATA").startswith("354 ")
        assert smtp(sock, message + ".").startswith("250 ")
        assert smtp(sock, "QUIT").startswith("221 ")
    samples = wait_for(mport, lambda s: s["postern_messages_delivered_total"] >= 1)
    assert samples['postern_auth_failures_total{protocol="smtp"}'] == 1
    assert samples['postern_auth_successes_total{protocol="smtp"}'] == 1
    assert samples['postern_auth_successes_total{protocol="imap"}'] == 0
    assert samples["postern_messages_delivered_total"] == 1
    assert samples["postern_delivered_bytes_total"] == len(message)
    assert samples['postern_delivery_duration_seconds_bucket{le="+Inf"}'] == 1
    assert samples["postern_delivery_duration_seconds_count"] == 1
    assert 0 < samples["postern_delivery_duration_seconds_sum"] < 10
    buckets = sorted((float(k.split('"')[1]), v) for k, v in samples.items()
                     if k.startswith("postern_delivery_duration_seconds_bucket") and "+Inf" not in k)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    require_core_wiring(mport)
    assert samples['postern_sessions_secure_total{tls="assumed"}'] == 1
    assert samples['postern_sessions_secure_total{tls="own"}'] == 0


def test_check_warns_about_public_metrics(run_postern, workdir, secret):
    path = workdir / "postern.toml"
    path.write_text(config(free_port(), free_port(), free_port(), secret, metrics_bind="0.0.0.0")
                    .replace("{data_dir}", str(workdir / "data")))
    proc = run_postern("check", "--config", path)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "server.listener.metrics.bind: metrics listener on 0.0.0.0:" in err
    assert "not a loopback address" in err
    out = proc.stdout.decode()
    assert re.search(r"listener metrics: bind 0\.0\.0\.0:\d+; protocol metrics; tls implicit no; "
                     r"proxy off\n", out), out
    # loopback: no warning
    path.write_text(config(free_port(), free_port(), free_port(), secret)
                    .replace("{data_dir}", str(workdir / "data")))
    proc = run_postern("check", "--config", path)
    assert proc.returncode == 0 and b"loopback" not in proc.stderr
