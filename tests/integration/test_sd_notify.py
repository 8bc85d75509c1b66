"""systemd Type=notify without systemd: postern started with NOTIFY_SOCKET pointing at a
datagram socket of the test reports READY=1 (with its pid) once it accepts connections,
RELOADING=1 then READY=1 around a SIGHUP reload, and STOPPING=1 on SIGTERM.
"""
import os
import signal
import socket

import pytest

from peers import connect_from, free_port



@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()


def next_state(sock):
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n") if line)


def test_ready_reloading_stopping(notify_socket, start_postern):
    port = free_port()
    srv = start_postern(f'[server]\ndata-dir = "{{data_dir}}"\nworkers = 1\n'
                        f'[server.listener.smtp]\nbind = "127.0.0.1:{port}"\nprotocol = "smtp"\n')
    notify_socket.settimeout(5)
    ready = next_state(notify_socket)
    assert ready["READY"] == "1"
    assert ready["MAINPID"] == str(srv.proc.pid)
    # READY means it accepts connections
    with connect_from("127.0.0.2", "127.0.0.1", port) as sock:
        sock.settimeout(5)
        assert sock.recv(100).startswith(b"220 ")
    os.kill(srv.proc.pid, signal.SIGHUP)
    reloading = next_state(notify_socket)
    assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
    assert next_state(notify_socket)["READY"] == "1"
    os.kill(srv.proc.pid, signal.SIGTERM)
    assert next_state(notify_socket)["STOPPING"] == "1"
    assert srv.proc.wait(timeout=10) == 0
