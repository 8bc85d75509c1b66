"""The server core end to end: real HAProxy and nginx in front of a real postern process.

Clients connect from 127.0.0.2+ to the proxy, the proxy connects to postern from 127.0.0.1, so a
test can tell the real client from the proxy in postern's replies and logs.
"""
import socket
import time

import pytest

from peers import connect_from, free_port, parse_logfmt

HOST = "127.0.0.1"
TRUSTED_PROXY = "127.0.0.1"


def server_config(listeners, extra_server="", proxy_section=None):
    proxy = proxy_section if proxy_section is not None else (
        f'[server.proxy]\ntrusted-networks = ["{TRUSTED_PROXY}"]\ntimeout = "1s"\n')
    return (f'[server]\nhostname = "mx.postern.test"\ndata-dir = "{{data_dir}}"\n'
            f'workers = 2\n{extra_server}\n{proxy}\n{listeners}')


def listener(name, port, protocol="smtp", extra=""):
    return (f'[server.listener."{name}"]\nbind = "{HOST}:{port}"\n'
            f'protocol = "{protocol}"\n{extra}\n')


def read_reply(sock, timeout=5.0):
    """Reads one complete SMTP reply (through the line 'NNN text')."""
    sock.settimeout(timeout)
    data = b""
    while True:
        lines = data.split(b"\r\n")
        for line in lines[:-1]:
            if len(line) >= 4 and line[3:4] == b" ":
                return data.decode()
        chunk = sock.recv(4096)
        if not chunk:
            return data.decode()
        data += chunk


def ehlo(sock, name="client.test"):
    greeting = read_reply(sock)
    assert greeting.startswith("220 mx.postern.test ESMTP postern"), greeting
    sock.sendall(f"EHLO {name}\r\n".encode())
    return read_reply(sock)


def closed_without_data(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


def haproxy_config(port, backend, server_opts, extra_server=""):
    return f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen mail
    bind {HOST}:{port}
    server postern {HOST}:{backend} {server_opts} {extra_server}
"""


@pytest.fixture
def proxied_smtp(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    return srv, port


@pytest.mark.requires("haproxy")
@pytest.mark.parametrize("send_proxy,version", [("send-proxy", "1"), ("send-proxy-v2", "2")])
def test_haproxy_passes_real_client(proxied_smtp, start_haproxy, send_proxy, version):
    srv, backend = proxied_smtp
    front = free_port()
    start_haproxy(haproxy_config(front, backend, send_proxy))
    with connect_from("127.0.0.2", HOST, front) as sock:
        reply = ehlo(sock)
        client_port = sock.getsockname()[1]
        assert "250-mx.postern.test Hello client.test [127.0.0.2]" in reply
        sock.sendall(b"QUIT\r\n")
        assert read_reply(sock).startswith("221 ")
    event = srv.wait_event("connect", client=f"127.0.0.2:{client_port}")
    assert event["listener"] == "smtp-proxy"
    assert event["proxy"].startswith("127.0.0.1:")
    assert event["proxy_version"] == version
    assert not srv.events("proxy_invalid")


@pytest.mark.requires("haproxy")
def test_haproxy_health_checks_are_local_and_quiet(proxied_smtp, start_haproxy):
    srv, backend = proxied_smtp
    front = free_port()
    start_haproxy(haproxy_config(front, backend, "send-proxy-v2",
                                 "check check-send-proxy inter 200ms"))
    event = srv.wait_event("connect", timeout=5, proxy_local="true")
    assert event["client"].startswith("127.0.0.1:")
    with connect_from("127.0.0.2", HOST, front) as sock:
        assert "[127.0.0.2]" in ehlo(sock)
    assert not srv.events("proxy_invalid")
    assert not srv.events("proxy_missing")


@pytest.mark.requires("nginx-stream")
def test_nginx_stream_v1(proxied_smtp, start_nginx):
    srv, backend = proxied_smtp
    front = free_port()
    start_nginx(f"""
server {{
    listen {HOST}:{front};
    proxy_pass {HOST}:{backend};
    proxy_protocol on;
}}
""")
    with connect_from("127.0.0.3", HOST, front) as sock:
        assert "Hello client.test [127.0.0.3]" in ehlo(sock)
        client_port = sock.getsockname()[1]
    event = srv.wait_event("connect", client=f"127.0.0.3:{client_port}")
    assert event["proxy_version"] == "1"


@pytest.mark.requires("nginx-stream")
def test_nginx_dual_stack_mapped_address_shown_as_ipv4(proxied_smtp, start_nginx):
    srv, backend = proxied_smtp
    front = free_port()
    start_nginx(f"""
server {{
    listen [::ffff:127.0.0.1]:{front} ipv6only=off;
    proxy_pass {HOST}:{backend};
    proxy_protocol on;
}}
""", ports=[(HOST, front)])
    with connect_from("127.0.0.7", HOST, front) as sock:
        assert "Hello client.test [127.0.0.7]" in ehlo(sock)
    srv.wait_event("connect", listener="smtp-proxy")
    assert any(e["client"].startswith("127.0.0.7:") for e in srv.events("connect"))


def test_untrusted_peer_header_is_never_honoured(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    with connect_from("127.0.0.5", HOST, port) as sock:
        # An untrusted peer is a direct client: it is greeted, and its header refused.
        assert read_reply(sock).startswith("220 ")
        sock.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 4000 25\r\nEHLO spoof\r\n")
        reply = read_reply(sock)
        assert reply.startswith("554 5.7.0"), reply
        assert closed_without_data(sock)
    warning = srv.wait_event("proxy_untrusted")
    assert warning["client"].startswith("127.0.0.5:")
    assert "not in the trusted networks of listener smtp-proxy" in warning["msg"]
    assert "203.0.113.9" not in srv.log()


def test_untrusted_v2_header_is_refused(start_postern, run_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    header = run_postern("proxy", "encode", "--src", "203.0.113.9", "--dst", "127.0.0.1",
                         "--src-port", "1", "--dst-port", "25").stdout
    with connect_from("127.0.0.5", HOST, port) as sock:
        read_reply(sock)
        sock.sendall(header)
        assert read_reply(sock).startswith("554 5.7.0")
    srv.wait_event("proxy_untrusted")
    assert "203.0.113.9" not in srv.log()


def test_trusted_peer_sending_nothing_times_out_while_others_are_served(start_postern):
    port, direct = free_port(), free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port) + listener("smtp", direct)))
    silent = connect_from(TRUSTED_PROXY, HOST, port)
    try:
        started = time.monotonic()
        # Meanwhile another client is served at once.
        with connect_from("127.0.0.2", HOST, direct) as other:
            assert "[127.0.0.2]" in ehlo(other)
        assert closed_without_data(silent, timeout=5)
        assert time.monotonic() - started >= 0.9  # the configured 1 s deadline, not earlier
    finally:
        silent.close()
    event = srv.wait_event("proxy_timeout")
    assert event["listener"] == "smtp-proxy"
    assert event["proxy"].startswith(TRUSTED_PROXY)
    assert "server.proxy.timeout" in event["msg"]


def test_trusted_peer_sending_smtp_instead_of_header_gets_a_hint(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"EHLO client.test\r\n")
        assert closed_without_data(sock)  # nothing is ever written to a proxy before its header
    event = srv.wait_event("proxy_invalid")
    assert event["reason"] == "not_proxy"
    assert "is the proxy configured to send PROXY protocol?" in event["msg"]


def test_trusted_peer_sending_tls_instead_of_header_gets_a_hint(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(bytes.fromhex("160301020001") + b"\x00" * 20)
        assert closed_without_data(sock)
    assert "TLS ClientHello" in srv.wait_event("proxy_invalid")["msg"]


def test_trusted_peer_with_bad_header_is_closed_with_reason(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 1.2.3.400 127.0.0.1 1 25\r\n")
        assert closed_without_data(sock)
    assert srv.wait_event("proxy_invalid")["reason"] == "v1_src_addr"


def test_trusted_peer_closing_early_is_logged(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 127.0.0.2")
    assert srv.wait_event("proxy_missing")["reason"] == "incomplete"


def test_header_split_across_many_writes(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    header = b"PROXY TCP4 127.0.0.9 127.0.0.1 40000 25\r\n"
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(header)):
            sock.sendall(header[i:i + 1])
            time.sleep(0.01)
        assert "[127.0.0.9]" in ehlo(sock)
    srv.wait_event("connect", client="127.0.0.9:40000")


def test_header_and_first_command_in_one_write(start_postern, run_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    header = run_postern("proxy", "encode", "--src", "127.0.0.8", "--dst", "127.0.0.1",
                         "--src-port", "40001", "--dst-port", "25").stdout
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(header + b"EHLO early.test\r\nQUIT\r\n")
        text = read_reply(sock) + read_reply(sock) + read_reply(sock)
        assert "250-mx.postern.test Hello early.test [127.0.0.8]" in text
        assert "221 " in text
    srv.wait_event("connect", client="127.0.0.8:40001")


def test_v2_tcp6_mapped_client_is_shown_as_ipv4(start_postern, run_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    header = run_postern("proxy", "encode", "--src", "::ffff:192.0.2.7", "--dst", "::1",
                         "--src-port", "5000", "--dst-port", "25").stdout
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(header)
        assert "[192.0.2.7]" in ehlo(sock)
    srv.wait_event("connect", client="192.0.2.7:5000")


def test_per_listener_override_and_explicit_disable(start_postern, run_postern):
    inherits, disabled, own = free_port(), free_port(), free_port()
    srv = start_postern(server_config(
        listener("inherits", inherits)
        + listener("disabled", disabled, extra="[server.listener.disabled.proxy]\n"
                                               "trusted-networks = []\n")
        + listener("own", own, extra='[server.listener.own.proxy]\n'
                                     'trusted-networks = ["127.0.0.9"]\n')))
    header = b"PROXY TCP4 127.0.0.20 127.0.0.1 40002 25\r\n"
    # The global list applies where the listener has none.
    with connect_from(TRUSTED_PROXY, HOST, inherits) as sock:
        sock.sendall(header)
        assert "[127.0.0.20]" in ehlo(sock)
    # An explicit [] switches PROXY off even though a global list exists.
    with connect_from(TRUSTED_PROXY, HOST, disabled) as sock:
        assert read_reply(sock).startswith("220 ")
        sock.sendall(header)
        assert read_reply(sock).startswith("554 5.7.0")
    srv.wait_event("proxy_untrusted", listener="disabled")
    # A listener's own list replaces the global one.
    with connect_from(TRUSTED_PROXY, HOST, own) as sock:
        assert read_reply(sock).startswith("220 ")
        sock.sendall(header)
        assert read_reply(sock).startswith("554 5.7.0")
    with connect_from("127.0.0.9", HOST, own) as sock:
        sock.sendall(header)
        assert "[127.0.0.20]" in ehlo(sock)


def test_blocked_networks_apply_to_the_real_client(start_postern):
    port, direct = free_port(), free_port()
    srv = start_postern(server_config(
        listener("smtp-proxy", port) + listener("smtp", direct),
        extra_server='blocked-networks = ["127.0.0.66", "127.0.0.67"]\n'
                     'allowed-networks = ["127.0.0.67"]\n'))
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 127.0.0.66 127.0.0.1 40003 25\r\n")
        assert read_reply(sock).startswith("554 5.7.1")
    assert srv.wait_event("client_blocked")["client"] == "127.0.0.66:40003"
    with connect_from("127.0.0.66", HOST, direct) as sock:
        assert read_reply(sock).startswith("554 5.7.1")
    # allowed-networks overrides blocked-networks
    with connect_from("127.0.0.67", HOST, direct) as sock:
        assert "[127.0.0.67]" in ehlo(sock)
    # The proxy itself is not blocked because of a client it carries.
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 127.0.0.68 127.0.0.1 40004 25\r\n")
        assert "[127.0.0.68]" in ehlo(sock)


def test_imap_listener_behind_proxy(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("imap-proxy", port, protocol="imap")))
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 127.0.0.30 127.0.0.1 40005 143\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"* OK")
        sock.sendall(b"a1 LOGOUT\r\n")
        data = b""
        while b"a1 OK" not in data:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
    srv.wait_event("connect", client="127.0.0.30:40005", listener="imap-proxy")


def test_listener_connection_limit(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp", port, extra="max-connections = 2\n")))
    held = [connect_from(f"127.0.0.{40 + i}", HOST, port) for i in range(2)]
    try:
        for sock in held:
            assert read_reply(sock).startswith("220 ")
        with connect_from("127.0.0.42", HOST, port) as sock:
            assert read_reply(sock).startswith("421 4.3.2")
        assert srv.wait_event("connection_limit")["limit"] == "listener max-connections"
    finally:
        for sock in held:
            sock.close()


def test_json_logs_carry_the_same_fields(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)),
                        extra_args=["--log-format", "json"])
    import json
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 127.0.0.31 127.0.0.1 40006 25\r\n")
        ehlo(sock)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = [json.loads(line) for line in srv.log().splitlines() if line.startswith("{")]
        connects = [e for e in events if e.get("event") == "connect"]
        if connects:
            break
        time.sleep(0.05)
    assert connects[0]["client"] == "127.0.0.31:40006"
    assert connects[0]["proxy"].startswith("127.0.0.1:")
    assert connects[0]["listener"] == "smtp-proxy"
    assert isinstance(connects[0]["conn"], int)


def test_every_line_of_a_connection_carries_its_conn_id(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port)))
    with connect_from("127.0.0.5", HOST, port) as sock:
        read_reply(sock)
        sock.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 4000 25\r\n")
        read_reply(sock)
    warning = srv.wait_event("proxy_untrusted")
    connect = srv.events("connect", client=warning["client"])[0]
    assert connect["conn"] == warning["conn"]


def test_sigterm_stops_cleanly(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp", port),
                                      extra_server='shutdown-timeout = "1s"\n'))
    with connect_from("127.0.0.2", HOST, port) as sock:
        assert read_reply(sock).startswith("220 ")
        assert srv.stop() == 0  # an idle session is told goodbye within the shutdown timeout
        assert read_reply(sock).startswith("421 4.3.2")
    assert srv.events("stopped")


@pytest.mark.requires("haproxy", "openssl")
def test_tls_facts_from_haproxy_ssl_tlv(proxied_smtp, start_haproxy, cert_factory):
    import ssl
    srv, backend = proxied_smtp
    cert = cert_factory("mail.postern.test")
    front = free_port()
    start_haproxy(f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen mail
    bind {HOST}:{front} ssl crt {cert.pem}
    server postern {HOST}:{backend} send-proxy-v2-ssl-cn
""")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with connect_from("127.0.0.2", HOST, front) as raw:
        with ctx.wrap_socket(raw, server_hostname="mail.postern.test") as sock:
            assert "[127.0.0.2]" in ehlo(sock)
            version = sock.version()
    event = srv.wait_event("connect", listener="smtp-proxy")
    assert event["client"].startswith("127.0.0.2:")
    assert event["tls"] == "proxy"
    assert event["tls_version"] == version


def test_assume_tls_only_for_proxied_clients(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener(
        "smtp-proxy", port, extra="[server.listener.smtp-proxy.proxy]\nassume-tls = true\n"
                                  f'trusted-networks = ["{TRUSTED_PROXY}"]\n')))
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(b"PROXY TCP4 127.0.0.32 127.0.0.1 40007 25\r\n")
        ehlo(sock)
    assert srv.wait_event("connect", client="127.0.0.32:40007")["tls"] == "assumed"
    # A direct client of the same listener did not come through the TLS-terminating proxy.
    with connect_from("127.0.0.33", HOST, port) as sock:
        ehlo(sock)
        client_port = sock.getsockname()[1]
    assert "tls" not in srv.wait_event("connect", client=f"127.0.0.33:{client_port}")


def test_idle_session_is_closed_with_a_reply(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp", port), extra_server='idle-timeout = "1s"\n'))
    with connect_from("127.0.0.2", HOST, port) as sock:
        assert read_reply(sock).startswith("220 ")
        assert read_reply(sock, timeout=5).startswith("421 4.4.2")
        assert closed_without_data(sock)
    srv.wait_event("idle_timeout")


def test_server_limit_counts_silent_trusted_peers(start_postern):
    port = free_port()
    srv = start_postern(server_config(listener("smtp-proxy", port),
                                      extra_server="max-connections = 1\n"))
    first = connect_from(TRUSTED_PROXY, HOST, port)
    try:
        time.sleep(0.2)
        with connect_from(TRUSTED_PROXY, HOST, port) as second:
            # Over the limit, a proxy gets no reply at all: it would reach the client raw.
            assert closed_without_data(second)
        assert srv.wait_event("connection_limit")["limit"] == "server.max-connections"
    finally:
        first.close()


def test_defer_accept_listener_serves_proxied_clients(start_postern, run_postern):
    port = free_port()
    srv = start_postern(server_config(listener(
        "smtp-proxy", port, extra="[server.listener.smtp-proxy.proxy]\ndefer-accept = true\n"
                                  f'trusted-networks = ["{TRUSTED_PROXY}"]\n')))
    header = run_postern("proxy", "encode", "--src", "127.0.0.34", "--dst", "127.0.0.1",
                         "--src-port", "40008", "--dst-port", "25").stdout
    for split in (False, True):  # the whole header at once, and a header cut in two
        with connect_from(TRUSTED_PROXY, HOST, port) as sock:
            sock.sendall(header[:10] if split else header)
            if split:
                time.sleep(0.1)
                sock.sendall(header[10:])
            assert "[127.0.0.34]" in ehlo(sock)
    assert len(srv.events("connect", client="127.0.0.34:40008")) == 2
    # Accepted with part of its header, a connection still has the PROXY deadline.
    with connect_from(TRUSTED_PROXY, HOST, port) as sock:
        sock.sendall(header[:10])
        assert closed_without_data(sock, timeout=5)
    assert srv.wait_event("proxy_timeout")["listener"] == "smtp-proxy"
