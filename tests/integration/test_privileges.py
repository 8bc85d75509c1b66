"""Started as root, postern binds its ports and then becomes server.run-as before accepting a
connection: /proc/PID/status shows the run-as user's ids, the data directory is handed over,
mail it writes is private to that user (0600 files, 0700 directories). An unknown run-as user or
a root-owned data directory full of files stops postern instead of leaving it root;
run-as = "root" keeps root with a warning.

Needs root and useradd: the user "postern-test" is created when missing (a system user without
a home directory). Skipped, saying why, otherwise.
"""
import os
import pwd
import shutil
import smtplib
import stat
import subprocess
import tempfile
import time

import pytest

from peers import Postern, free_port

HOST = "127.0.0.1"
USER = "postern-test"


def _skip_reason():
    if os.geteuid() != 0:
        return "needs root: postern only drops privileges when started as root"
    if not shutil.which("useradd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
        return "needs useradd (package passwd) to create the user postern-test"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture(scope="module")
def run_as_user():
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        useradd = shutil.which("useradd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        proc = subprocess.run([useradd, "--system", "--no-create-home", "--shell",
                               "/usr/sbin/nologin", USER], capture_output=True, text=True)
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            pytest.skip(f"useradd {USER} failed: {proc.stderr.strip()}")
        return pwd.getpwnam(USER)


@pytest.fixture
def base():
    """A directory the run-as user can traverse (pytest's own tmp dirs are root-only)."""
    path = tempfile.mkdtemp(prefix="postern-priv-", dir="/tmp")
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def config(data_dir, port, run_as):
    run_as_line = f'run-as = "{run_as}"\n' if run_as is not None else ""
    return f"""
[server]
hostname = "mx.postern.test"
data-dir = "{data_dir}"
workers = 2
{run_as_line}
[server.listener."smtp"]
bind = "{HOST}:{port}"
protocol = "smtp"

[[directory.accounts]]
name = "alice"
secret = "$6$abcdefgh$yIZAF3gQPvtKZO/9qOJKffAKKbtS3ef3qmwyugk4uWVjX8YZf/GV3A8SkFxEPY0T56CcilGrHKLffBsp6dLMG."
email = ["alice@example.com"]
"""


def proc_ids(pid):
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups", "CapEff", "CapPrm", "NoNewPrivs"):
                ids[key] = value.split()
    return ids


def require_wiring(log):
    assert "event=privileges" in log, log


def run_once(workdir, config_text, timeout=5):
    """Runs postern that is expected to refuse to start: (exit status, log text)."""
    path = os.path.join(workdir, "refused.toml")
    with open(path, "w") as f:
        f.write(config_text)
    from peers import postern_binary
    try:
        proc = subprocess.run([postern_binary(), "--config", path], capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:  # it started instead of refusing
        require_wiring((exc.stderr or b"").decode())
        raise
    return proc.returncode, proc.stderr.decode()


def test_drops_to_run_as_user(run_as_user, base, start_postern):
    data = os.path.join(base, "data")  # created by postern as root, then handed over
    port = free_port()
    srv = start_postern(config(data, port, USER))
    require_wiring(srv.log())
    ids = proc_ids(srv.proc.pid)
    uid, gid = str(run_as_user.pw_uid), str(run_as_user.pw_gid)
    assert ids["Uid"] == [uid] * 4, ids
    assert ids["Gid"] == [gid] * 4, ids
    assert "0" not in ids.get("Groups", []), ids
    assert int(ids["CapEff"][0], 16) == 0 and int(ids["CapPrm"][0], 16) == 0, ids
    assert ids["NoNewPrivs"] == ["1"], ids
    event = srv.wait_event("privileges_dropped")
    assert event["user"] == USER and event["uid"] == uid and event["gid"] == gid
    # the listener was bound before the switch and works after it
    st = os.stat(data)
    assert (st.st_uid, st.st_gid) == (run_as_user.pw_uid, run_as_user.pw_gid)
    assert stat.S_IMODE(st.st_mode) == 0o700
    with smtplib.SMTP(HOST, port, timeout=10) as client:
        client.sendmail("bob@example.org", ["alice@example.com"],
                        b"Subject: private\r\n\r\nnot for other users\r\n")
    new = os.path.join(data, "alice", "new")
    deadline = time.monotonic() + 5
    while not os.listdir(new) and time.monotonic() < deadline:
        time.sleep(0.05)
    files = [os.path.join(new, name) for name in os.listdir(new)]
    assert len(files) == 1
    for path in files + [new, os.path.join(data, "alice")]:
        st = os.stat(path)
        assert st.st_uid == run_as_user.pw_uid, path
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0, f"{path} is {oct(st.st_mode)}"


def test_unknown_user_refuses_to_start(base):
    status, log = run_once(base, config(os.path.join(base, "data"), free_port(),
                                        "no-such-user-postern"))
    assert status == 1
    assert "event=privileges_failed" in log
    assert 'server.run-as: no user \\"no-such-user-postern\\"' in log
    assert "event=started" not in log


def test_root_owned_data_dir_with_files_is_not_taken_over(run_as_user, base):
    data = os.path.join(base, "data")
    os.makedirs(os.path.join(data, "alice"))
    status, log = run_once(base, config(data, free_port(), USER))
    assert status == 1
    assert "belongs to root and is not empty" in log
    assert f"chown -R {run_as_user.pw_uid}:{run_as_user.pw_gid} {data}" in log
    assert os.stat(data).st_uid == 0


def test_run_as_root_stays_root_with_a_warning(base, start_postern):
    srv = start_postern(config(os.path.join(base, "data"), free_port(), "root"))
    require_wiring(srv.log())
    assert proc_ids(srv.proc.pid)["Uid"] == ["0"] * 4
    event = srv.wait_event("privileges")
    assert event["level"] == "warn" and event["run_as"] == "root"
