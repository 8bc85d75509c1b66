"""Configuration reload on SIGHUP and `postern reload`: new connections get the new
configuration, established sessions keep theirs, a broken file changes nothing."""
import os
import signal
import subprocess
import time

from peers import connect_from, free_port, postern_binary

HOST = "127.0.0.1"


def config(listeners, trusted='["127.0.0.1"]', extra=""):
    return (f'[server]\nhostname = "mx.postern.test"\ndata-dir = "{{data_dir}}"\nworkers = 2\n'
            f'{extra}\n[server.proxy]\ntrusted-networks = {trusted}\n{listeners}')


def listener(name, port, protocol="smtp"):
    return f'[server.listener."{name}"]\nbind = "{HOST}:{port}"\nprotocol = "{protocol}"\n'


def reply(sock, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while not any(len(l) >= 4 and l[3:4] == b" " for l in data.split(b"\r\n")[:-1]):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def rewrite_and_reload(srv, text, use_cli=False):
    """Writes the new file and reloads; returns the reload's result event."""
    before = len(srv.events("reloaded")) + len(srv.events("reload_failed"))
    with open(srv.config_path, "w") as f:
        f.write(text.replace("{data_dir}", os.path.join(srv.dir, "data")))
    if use_cli:
        out = subprocess.run([postern_binary(), "reload", "--config", srv.config_path],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
    else:
        os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while len(srv.events("reloaded")) + len(srv.events("reload_failed")) == before:
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.02)
    return (srv.events("reloaded") + srv.events("reload_failed"))[-1]


def test_trusted_networks_change_for_new_connections_only(start_postern):
    port = free_port()
    srv = start_postern(config(listener("smtp-proxy", port)))
    established = connect_from("127.0.0.1", HOST, port)
    try:
        established.sendall(b"PROXY TCP4 127.0.0.50 127.0.0.1 4000 25\r\n")
        assert reply(established).startswith("220 ")
        # 127.0.0.1 is no longer a trusted proxy: it becomes a direct client.
        event = rewrite_and_reload(srv, config(listener("smtp-proxy", port),
                                               trusted='["127.0.0.9"]'))
        assert event["event"] == "reloaded" and event["listeners_kept"] == "1"
        with connect_from("127.0.0.1", HOST, port) as fresh:
            assert reply(fresh).startswith("220 ")  # greeted at once: not waiting for a header
            fresh.sendall(b"PROXY TCP4 127.0.0.51 127.0.0.1 4001 25\r\n")
            assert reply(fresh).startswith("554 5.7.0")
        # The session that started under the old configuration keeps working.
        established.sendall(b"EHLO still.here\r\n")
        assert "[127.0.0.50]" in reply(established)
    finally:
        established.close()


def test_invalid_file_keeps_the_running_configuration(start_postern):
    port = free_port()
    srv = start_postern(config(listener("smtp-proxy", port)))
    event = rewrite_and_reload(srv, config(listener("smtp-proxy", port), trusted='["10.0.0.0/33"]'))
    assert event["event"] == "reload_failed"
    assert "10.0.0.0/33" in srv.log()  # the reason is logged
    with connect_from("127.0.0.1", HOST, port) as sock:  # still a trusted proxy
        sock.sendall(b"PROXY TCP4 127.0.0.52 127.0.0.1 4002 25\r\n")
        assert reply(sock).startswith("220 ")
        sock.sendall(b"EHLO x\r\n")
        assert "[127.0.0.52]" in reply(sock)


def test_listeners_are_added_and_removed(start_postern):
    kept, removed, added = free_port(), free_port(), free_port()
    srv = start_postern(config(listener("kept", kept) + listener("removed", removed)))
    held = connect_from("127.0.0.2", HOST, removed)
    try:
        assert reply(held).startswith("220 ")
        event = rewrite_and_reload(srv, config(listener("kept", kept)
                                               + listener("added", added, "imap")),
                                   use_cli=True)
        assert (event["listeners_added"], event["listeners_removed"]) == ("1", "1")
        with connect_from("127.0.0.2", HOST, added) as sock:
            sock.settimeout(5)
            assert sock.recv(100).startswith(b"* OK")
        with connect_from("127.0.0.2", HOST, kept) as sock:
            assert reply(sock).startswith("220 ")
        deadline = time.monotonic() + 5
        while True:  # the removed listener's socket is closed once the workers let go
            try:
                connect_from("127.0.0.2", HOST, removed).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        held.sendall(b"NOOP\r\n")  # its established session is not dropped
        assert reply(held).startswith("250 ")
    finally:
        held.close()


def test_reload_without_a_running_instance_says_so(run_postern, workdir):
    path = workdir / "p.toml"
    path.write_text(f'[server]\ndata-dir = "{workdir}/nothing-here"\n')
    out = run_postern("reload", "--config", path)
    assert out.returncode == 1 and b"no running instance" in out.stderr


def test_log_file_is_reopened_on_sigusr1(start_postern, workdir):
    port = free_port()
    log_path = workdir / "postern.log"
    srv = start_postern(config(listener("smtp", port)), extra_args=["--log-file", str(log_path)])
    with connect_from("127.0.0.2", HOST, port) as sock:
        assert reply(sock).startswith("220 ")
    os.rename(log_path, workdir / "postern.log.1")  # what logrotate does
    os.kill(srv.proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not (log_path.exists() and "log_reopened" in log_path.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with connect_from("127.0.0.3", HOST, port) as sock:
        assert reply(sock).startswith("220 ")
    deadline = time.monotonic() + 5
    while "client=127.0.0.3" not in log_path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert "client=127.0.0.2" in (workdir / "postern.log.1").read_text()


def test_ipv4_and_ipv6_wildcards_side_by_side(start_postern):
    port = free_port()
    srv = start_postern(config(f'[server.listener.smtp]\nbind = ["0.0.0.0:{port}", "[::]:{port}"]\n'
                               'protocol = "smtp"\n'))
    with connect_from("127.0.0.2", HOST, port) as sock:
        assert reply(sock).startswith("220 ")
    import socket
    with socket.create_connection(("::1", port), timeout=5) as sock:
        assert reply(sock).startswith("220 ")
    assert len(srv.events("listening", listener="smtp")) == 2
