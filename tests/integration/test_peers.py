"""Self-tests of the integration harness (peers.py): real HAProxy and nginx on loopback."""
import socket
import ssl
import threading

import pytest

import peers


class Echo:
    """A one-connection-at-a-time backend that records what it got and echoes a banner."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(4)
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, peer = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            data = b""
            while not data.endswith(b"QUIT\r\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.received.append((peer, data))
            conn.sendall(b"221 bye\r\n")

    def close(self):
        self.sock.close()
        self.thread.join(timeout=6)


def test_free_port_and_connect_from():
    port = peers.free_port()
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", port))
        srv.listen(1)
        peers.wait_for_port("127.0.0.1", port, timeout=2)
        assert peers.is_listening("127.0.0.1", port)
        with peers.connect_from("127.0.0.9", "127.0.0.1", port) as c:
            conn, peer = srv.accept()
            conn.close()
            assert peer[0] == "127.0.0.9" and c.getsockname()[0] == "127.0.0.9"
    assert not peers.is_listening("127.0.0.1", port)


def test_wait_for_port_times_out():
    port = peers.free_port()
    with pytest.raises(peers.PeerError):
        peers.wait_for_port("127.0.0.1", port, timeout=0.2)


def test_postern_binary_location(monkeypatch, tmp_path):
    monkeypatch.setenv("POSTERN_BUILD", str(tmp_path))
    assert peers.postern_binary() == str(tmp_path / "postern")


@pytest.mark.requires("haproxy")
def test_haproxy_forwards_with_v1_header(start_haproxy):
    backend = Echo()
    front = peers.free_port()
    try:
        start_haproxy(f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen t
    bind 127.0.0.1:{front}
    server b 127.0.0.1:{backend.port} send-proxy
""")
        with peers.connect_from("127.0.0.8", "127.0.0.1", front) as c:
            c.sendall(b"QUIT\r\n")
            assert c.recv(100) == b"221 bye\r\n"
            sport = c.getsockname()[1]
    finally:
        backend.close()
    (peer, data), = backend.received
    assert peer[0] == "127.0.0.1"  # the proxy, not the client
    assert data == f"PROXY TCP4 127.0.0.8 127.0.0.1 {sport} {front}\r\nQUIT\r\n".encode()


@pytest.mark.requires("haproxy")
def test_haproxy_bad_config_raises_with_output(tmp_path):
    with pytest.raises(peers.ConfigError, match="no-such-keyword"):
        with peers.HAProxy("global\n    no-such-keyword\n", workdir=tmp_path):
            pass


@pytest.mark.requires("nginx-stream", "openssl")
def test_nginx_tls_stream_with_v1_header(start_nginx, cert_factory):
    cert = cert_factory("nginx.example.test")
    backend = Echo()
    front = peers.free_port()
    try:
        nginx = start_nginx(f"""
server {{
    listen 127.0.0.1:{front} ssl;
    ssl_certificate {cert.cert};
    ssl_certificate_key {cert.key};
    proxy_pass 127.0.0.1:{backend.port};
    proxy_protocol on;
}}
""")
        ctx = ssl.create_default_context(cafile=cert.cert)
        with peers.connect_from("127.0.0.8", "127.0.0.1", front) as raw:
            with ctx.wrap_socket(raw, server_hostname=cert.cn) as c:
                c.sendall(b"QUIT\r\n")
                assert c.recv(100) == b"221 bye\r\n"
                sport = c.getsockname()[1]
        assert nginx.pid and nginx.proc.poll() is None
    finally:
        backend.close()
    (peer, data), = backend.received
    assert data == f"PROXY TCP4 127.0.0.8 127.0.0.1 {sport} {front}\r\nQUIT\r\n".encode()
