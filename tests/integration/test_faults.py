"""Fault and abuse tests, short enough for every `make test` run (a few seconds each):

  slowloris     hundreds of trusted peers that connect and send nothing are all closed at the
                PROXY deadline, while a normal proxied client keeps being served
  garbage       random bytes, truncated and broken headers on proxied and plain listeners:
                no crash, every connection closed by the server, the log names each reason
  durability    kill -9 during an SMTP load: after a restart, every message that got a 250 is
                in the Maildir and complete, and no partial file sits in new/
  idle memory   hundreds of greeted, silent proxied connections hold no buffers

The load comes from postern-load ($POSTERN_BUILD/tools/postern-load). Assertions are about
behaviour, never timings beyond the deadlines the tests configure. The longer runs (10 000
connections with churn, resource counts afterwards) are in bench/soak.py (`make soak`).
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

import peers
from peers import connect_from, free_port

HOST = "127.0.0.1"
PROXY_TIMEOUT = "1s"
SILENT_PEERS = 500


@pytest.fixture(scope="session")
def load_tool():
    path = os.path.join(os.path.dirname(peers.postern_binary()), "tools", "postern-load")
    if not os.access(path, os.X_OK):
        pytest.fail(f"postern-load not built: {path} (make)")
    return path


@pytest.fixture(scope="module")
def secret():
    proc = subprocess.run(["openssl", "passwd", "-6", "-salt", "faults", "secret"],
                          capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        pytest.skip("needs openssl")
    return proc.stdout.strip()


def config(listeners, data_dir="{data_dir}", accounts=""):
    return (f'[server]\nhostname = "mx.postern.test"\ndata-dir = "{data_dir}"\nworkers = 2\n'
            f'max-connections = 4000\n\n[server.proxy]\ntimeout = "{PROXY_TIMEOUT}"\n\n'
            f'{listeners}\n{accounts}')


def listener(name, port, proxied):
    trusted = '["127.0.0.0/8"]' if proxied else "[]"
    return (f'[server.listener."{name}"]\nbind = "{HOST}:{port}"\nprotocol = "smtp"\n'
            f'proxy.trusted-networks = {trusted}\n\n')


def summary_of(out, err, returncode=0):
    """postern-load's JSON summary; a sanitizer report (make asan) fails the test."""
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert returncode in (0, 1) and out.strip(), err
    return json.loads(out.strip().splitlines()[-1])


def run_load(tool, *args, timeout=60):
    proc = subprocess.run([tool, "--json", "--quiet", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return summary_of(proc.stdout, proc.stderr, proc.returncode)


def read_reply(sock):
    data = b""
    while True:
        lines = data.split(b"\r\n")
        if any(len(line) >= 4 and line[3:4] == b" " for line in lines[:-1]):
            return data.decode()
        chunk = sock.recv(4096)
        if not chunk:
            return data.decode()
        data += chunk


def proxied_session(port, client_ip):
    """A well-behaved proxied client: v1 header, greeting, EHLO, QUIT. Returns the EHLO reply."""
    with connect_from("127.0.0.1", HOST, port, timeout=5) as sock:
        sock.sendall(f"PROXY TCP4 {client_ip} {HOST} 40000 {port}\r\n".encode())
        assert read_reply(sock).startswith("220 mx.postern.test")
        sock.sendall(b"EHLO normal.test\r\n")
        reply = read_reply(sock)
        sock.sendall(b"QUIT\r\n")
        assert read_reply(sock).startswith("221")
        return reply


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def count_events(srv, names):
    counts = {}
    for fields in srv.events():
        if fields.get("event") in names:
            counts[fields["event"]] = counts.get(fields["event"], 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------

def test_load_tool_refuses_targets_outside_loopback(load_tool):
    proc = subprocess.run([load_tool, "192.0.2.1:25"], capture_output=True, text=True,
                          timeout=10)
    assert proc.returncode == 2 and "loopback" in proc.stderr
    proc = subprocess.run([load_tool, "--source", "10.0.0.1", "127.0.0.1:25"],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2


def test_slowloris_silent_trusted_peers_are_closed_while_others_are_served(start_postern,
                                                                          load_tool):
    port = free_port()
    srv = start_postern(config(listener("smtp-proxy", port, True)))
    load = subprocess.Popen(
        [load_tool, "--json", "--quiet", "-s", "idle", "-c", str(SILENT_PEERS), "--hold", "8",
         "--proxy", "none", "--source", "127.0.6.1-127.0.6.50", f"{HOST}:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    served, failures = [], []

    def normal_client():
        n = 0
        while load.poll() is None and n < 200:
            n += 1
            try:
                reply = proxied_session(port, "192.0.2.77")
                served.append("[192.0.2.77]" in reply)
            except (OSError, AssertionError) as exc:
                failures.append(repr(exc))
            time.sleep(0.02)

    time.sleep(0.3)  # the silent peers connect first; the normal client runs while they wait
    thread = threading.Thread(target=normal_client)
    thread.start()
    try:
        out, err = load.communicate(timeout=30)
    finally:
        if load.poll() is None:
            load.kill()
        thread.join(timeout=30)
    summary = summary_of(out, err, load.returncode)
    # Every silent peer was closed by the server before its hold ended: none was held.
    assert summary["errors"] == {"closed@hold": SILENT_PEERS}, (summary, err)
    assert summary["held"] == 0 and summary["greeted"] == 0
    assert not failures, failures
    assert len(served) >= 2 and all(served), served
    assert wait_for(lambda: len(srv.events("proxy_timeout")) == SILENT_PEERS)
    assert all(e["reason"] == "timeout" for e in srv.events("proxy_timeout"))
    assert not srv.events("connection_limit")
    proxied_session(port, "192.0.2.78")  # still serving afterwards


@pytest.mark.parametrize("proxied", [True, False], ids=["proxied", "plain"])
def test_garbage_flood_closes_every_connection_and_names_reasons(start_postern, load_tool,
                                                               proxied):
    port = free_port()
    srv = start_postern(config(listener("flood", port, proxied)))
    summary = run_load(load_tool, "-s", "garbage", "-c", 10, "-d", 1.5, "--timeout", 5,
                       "--garbage", "mixed", "--source", "127.0.7.1-127.0.7.50", f"{HOST}:{port}")
    started = summary["sessions"]["started"]
    assert started >= 100, summary
    # ok = the server closed the connection; any timeout or error would be listed here.
    assert summary["errors"] == {} and summary["sessions"]["ok"] == started, summary
    if proxied:
        names = ("proxy_invalid", "proxy_missing", "proxy_timeout")
        assert wait_for(lambda: sum(count_events(srv, names).values()) == started), \
            (count_events(srv, names), started)
        reasons = {e.get("reason") for e in srv.events() if e.get("event") in names}
        assert "" not in reasons and None not in reasons
        assert {"not_proxy", "incomplete"} <= reasons, reasons
        assert not srv.events("connect")  # no garbage ever became a session
    else:
        # Headers sent to a listener without trusted networks are named as such.
        assert wait_for(lambda: len(srv.events("proxy_untrusted")) > 0)
    assert srv.proc.poll() is None
    with connect_from("127.0.0.9", HOST, port) as sock:
        if proxied:
            sock.sendall(f"PROXY TCP4 192.0.2.9 {HOST} 40000 {port}\r\n".encode())
        assert read_reply(sock).startswith("220 mx.postern.test")


def maildir_files(data_dir, account):
    folder = os.path.join(data_dir, account, "new")
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))] \
        if os.path.isdir(folder) else []


def check_complete(path, expected_size=None):
    """A delivered file: the Received header, then the whole message postern-load sent."""
    with open(path, "rb") as f:
        data = f.read()
    start = data.find(b"Message-ID: <")
    assert start > 0 and data.startswith(b"Received: "), path
    message = data[start:]
    assert message.endswith(b"\r\n"), f"{path} is cut"
    if expected_size is not None:
        assert len(message) == expected_size, (path, len(message), expected_size)
    return message[12:message.index(b"\r\n")].decode()  # "<id>"


def test_kill_9_during_smtp_load_loses_no_acknowledged_message(tmp_path, load_tool, secret):
    port = free_port()
    data_dir = str(tmp_path / "data")
    accounts = (f'[[directory.accounts]]\nname = "bench"\nsecret = "{secret}"\n'
                f'email = ["bench@example.test"]\n')
    text = config(listener("smtp-proxy", port, True), data_dir=data_dir, accounts=accounts)
    record = tmp_path / "acknowledged.txt"
    first = peers.Postern(text, tmp_path / "run1").start()
    try:
        args = ["-s", "smtp", "-c", 8, "-d", 4, "--timeout", 2, "--proxy", "v2",
                "--to", "bench@example.test", "--size", 8192, "--messages-per-connection", 3,
                "--record", record, "--source", "127.0.8.1-127.0.8.20", f"{HOST}:{port}"]
        load = subprocess.Popen(
            [load_tool, "--json", "--quiet", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_for(lambda: record.exists() and
                        record.read_text().count("\n") >= 40, 10), "no deliveries"
        first.proc.send_signal(signal.SIGKILL)  # in the middle of the load
        first.proc.wait(timeout=10)
        time.sleep(0.3)
        load.send_signal(signal.SIGINT)  # stop starting sessions; the cut ones end as errors
        out, err = load.communicate(timeout=30)
    finally:
        if first.proc and first.proc.poll() is None:
            first.proc.kill()
        first.returncode = first.proc.wait() if first.proc else None
    summary = summary_of(out, err, load.returncode)
    assert summary["errors_total"] > 0, summary  # the kill cut sessions short
    acknowledged = {}
    for line in record.read_text().splitlines():
        queue_id, message_id, size = line.split()
        acknowledged[message_id] = int(size)
    assert len(acknowledged) >= 40

    second = peers.Postern(text, tmp_path / "run2").start()  # restarts on the same data
    try:
        on_disk = {}
        for path in maildir_files(data_dir, "bench"):
            message_id = check_complete(path)  # no partial file in new/
            on_disk.setdefault(message_id, []).append(path)
        missing = [m for m in acknowledged if m not in on_disk]
        assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
        for message_id, size in acknowledged.items():
            assert len(on_disk[message_id]) == 1, on_disk[message_id]
            check_complete(on_disk[message_id][0], size)
        # And the restarted server accepts mail again.
        after = run_load(load_tool, "-s", "smtp", "-c", 1, "-n", 2, "--proxy", "v2",
                         "--to", "bench@example.test", f"{HOST}:{port}")
        assert after["messages"]["ok"] == 2, after
    finally:
        assert second.stop() == 0, second.log()


IDLE_PEERS = 800
# Measured here: 2.0 KiB (gcc) and 3.5 KiB (ASan); 6.5 KiB (gcc) when every connection kept its
# buffers.
IDLE_KIB_PER_CONNECTION = 5


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_idle_connections_hold_no_buffers(start_postern, load_tool, tmp_path):
    """A greeted, silent connection keeps neither an input nor an output buffer: input memory is
    lent by the worker while bytes wait, output memory is freed once sent."""
    port = free_port()
    srv = start_postern(config(listener("smtp-proxy", port, True)))
    proxied_session(port, "192.0.2.80")  # threads and pools exist before the baseline
    time.sleep(0.5)
    before = rss_kib(srv.proc.pid)
    ready = tmp_path / "ready"
    load = subprocess.Popen(
        [load_tool, "--json", "--quiet", "-s", "idle", "-c", str(IDLE_PEERS), "--hold", "30",
         "--proxy", "v2", "--source", "127.0.7.1-127.0.7.50", "--ready-file", str(ready),
         f"{HOST}:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(ready.exists, timeout=20), "the idle connections were not all greeted"
        time.sleep(0.5)
        grown = rss_kib(srv.proc.pid) - before
        proxied_session(port, "192.0.2.81")  # served beside them
    finally:
        load.send_signal(signal.SIGTERM)
        out, err = load.communicate(timeout=30)
    summary = summary_of(out, err, load.returncode)
    assert summary["greeted"] == IDLE_PEERS, summary
    assert grown < IDLE_PEERS * IDLE_KIB_PER_CONNECTION, (
        f"{grown} KiB for {IDLE_PEERS} idle connections: {grown / IDLE_PEERS:.2f} KiB each")
