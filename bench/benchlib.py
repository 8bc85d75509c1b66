"""Shared pieces of postern's load benchmarks (bench/bench_*.py, bench/soak.py).

Standard library only. Everything runs on loopback high ports, from private directories, as
children of the calling script that die with it (peers._spawn uses PR_SET_PDEATHSIG), and every
run is bounded in time. Timings are printed, never asserted.

    postern_load(build)             path of build/tools/postern-load (built if missing)
    run_load(tool, args)            runs it with --json, returns the summary dict
    PosternServer(build, config)    a postern process on a generated config
    PostfixServer, DovecotServer    private instances of the Debian packages
    ensure_mail_packages()          installs postfix + dovecot-imapd if missing (apt-get)
    memory(pids), cpu_seconds(pids), thread_cpu_seconds(pids), process_tree(pid)   from /proc
"""
import json
import os
import pwd
import grp
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import peers  # noqa: E402  (the integration tests' process helpers)

HOST = "127.0.0.1"
PASSWORD = "bench-password"
ACCOUNT = "bench"
ADDRESS = "bench@example.test"
LOAD_TIMEOUT_SLACK = 60


def _real_hash():
    proc = subprocess.run(["openssl", "passwd", "-6", "-salt", "postern.bench", PASSWORD],
                          capture_output=True, text=True, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


# One SHA512-CRYPT hash ($6$, 5000 rounds: what Dovecot's `doveadm pw -s SHA512-CRYPT` makes) for
# every server, so checking a password costs the same everywhere.
SHA512_HASH = _real_hash()
if not SHA512_HASH:
    raise SystemExit("benchlib: `openssl passwd -6` failed; is openssl installed?")


def say(text=""):
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------
# postern and the load tool

def build_target(build, target):
    subprocess.run(["make", "-s", f"BUILD={build}", "OPT=-O2", os.path.join(build, target)],
                   cwd=ROOT, check=True, timeout=600)


def postern_load(build):
    """build/tools/postern-load, (re)built with make when missing or older than its source."""
    tool = os.path.join(build, "tools", "postern-load")
    src = os.path.join(ROOT, "tools", "postern-load.c")
    if not os.path.exists(tool) or os.path.getmtime(tool) < os.path.getmtime(src):
        build_target(build, "tools/postern-load")
    return os.path.abspath(tool)


def run_load(tool, args, timeout=None):
    """Runs postern-load with --json --quiet; returns its summary (a dict). timeout: seconds,
    by default the run's own bound plus a margin (the tool stops by itself)."""
    argv = [tool, "--json", "--quiet", *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout or 900, stdin=subprocess.DEVNULL)
    if proc.returncode == 2 or not proc.stdout.strip():
        raise RuntimeError(f"postern-load failed ({proc.returncode}): {' '.join(argv)}\n"
                           f"{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["argv"] = argv
    return result


def start_load(tool, args, stdout_path):
    """postern-load in the background (for idle holds); returns the Popen."""
    out = open(stdout_path, "w")
    return subprocess.Popen([tool, "--json", *map(str, args)], stdout=out,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def trusted_list(proxied):
    if isinstance(proxied, str):
        return [proxied]
    return ["127.0.0.0/8"] if proxied else []


def postern_config(listeners, server_extra="", accounts=True, max_connections=30000):
    """A postern TOML configuration. listeners: [(name, port, protocol, proxied, extra)], where
    proxied is False, True (trusting 127.0.0.0/8) or the CIDR to trust. The data directory is
    PosternServer's workdir/data."""
    text = ('[server]\nhostname = "mx.postern.test"\ndata-dir = "{data_dir}"\nworkers = 0\n'
            f'max-connections = {max_connections}\nmax-connections-per-client = 0\n'
            f'{server_extra}\n'
            '[server.proxy]\ntimeout = "5s"\n\n')
    for name, port, protocol, proxied, extra in listeners:
        text += (f'[server.listener."{name}"]\nbind = "{HOST}:{port}"\nprotocol = "{protocol}"\n'
                 f'proxy.trusted-networks = {json.dumps(trusted_list(proxied))}\n'
                 f'{extra}\n')
    if accounts:
        text += (f'[[directory.accounts]]\nname = "{ACCOUNT}"\nsecret = "{SHA512_HASH}"\n'
                 f'email = ["{ADDRESS}"]\n')
    return text


class PosternServer(peers.Postern):
    """peers.Postern with the binary of a chosen build and a log level."""

    def __init__(self, build, config_text, workdir, log_level="info"):
        os.environ["POSTERN_BUILD"] = os.path.abspath(build)
        super().__init__(config_text, workdir, extra_args=["--log-level", log_level])

    @property
    def pids(self):
        return [self.proc.pid] if self.proc else []

    def maildir(self, account=ACCOUNT):
        return os.path.join(self.dir, "data", account, "new")


# ---------------------------------------------------------------------------------------------
# /proc

def process_tree(root):
    """root and all its descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(name))
        except (OSError, IndexError):
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def memory(pids):
    """Summed Rss and Pss in KiB over pids (from smaps_rollup)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def cpu_seconds(pids):
    """utime+stime of pids, plus what they collected from reaped children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
        except (OSError, IndexError):
            continue
    return total / tick


def thread_cpu_seconds(pids):
    """CPU time of the processes' live threads, to the nanosecond (/proc/PID/task/*/schedstat).
    /proc/PID/stat counts in 10 ms ticks, which over a short run of a fast server is a percent
    or more of noise; this is for a server whose threads all live through the measurement."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def raise_fd_limit(want):
    """Raises RLIMIT_NOFILE (soft, and hard when root) for this process and its children."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------------------------
# Postfix and Dovecot from Debian, in private directories

MAIL_PACKAGES = ("postfix", "dovecot-imapd")
SYSTEM_MAIL_PORTS = (25, 110, 143, 465, 587, 993, 995)


def _installed(package):
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", package],
                          capture_output=True, text=True)
    return proc.returncode == 0 and "install ok installed" in proc.stdout


def _system_mail_listeners():
    return sorted({port for _, port, _ in peers._proc_net_listeners()
                   if port in SYSTEM_MAIL_PORTS})


def _stop_system_daemons():
    """Stops a system-wide postfix or dovecot that a package script may have started."""
    stopped = []
    for pid in process_tree(1):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        exe = os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else ""
        if exe in ("master", "dovecot") and b"-c" not in argv and pid != os.getpid():
            os.kill(pid, signal.SIGTERM)
            stopped.append(f"{exe}[{pid}]")
    return stopped


def ensure_mail_packages():
    """Installs postfix and dovecot-imapd when missing, with debconf 'No configuration'.
    Returns (ok, message). Checks that no system-wide daemon was left listening."""
    missing = [p for p in MAIL_PACKAGES if not _installed(p)]
    notes = []
    if missing:
        say(f"installing {' '.join(missing)} from Debian (apt-get) ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["debconf-set-selections"], input=(
            "postfix postfix/main_mailer_type select No configuration\n"
            "postfix postfix/mailname string bench.invalid\n"), text=True, check=False)
        proc = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                               *missing], env=env, capture_output=True, text=True,
                              timeout=900, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            return False, f"apt-get install failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    stopped = _stop_system_daemons()
    if stopped:
        notes.append(f"stopped system-wide daemons started by the packages: {stopped}")
    busy = _system_mail_listeners()
    if busy:
        notes.append(f"warning: something listens on system mail ports {busy}")
    return True, "; ".join(notes)


def _user_ids(user):
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


class ForeignServer:
    """What the Postfix and Dovecot runners share: a process tree started by start(), its log
    files (LOG_FILES, in self.dir), and stopping it."""
    LOG_FILES = ()
    proc = None

    @property
    def pids(self):
        return process_tree(self.proc.pid) if self.proc else []

    def log(self):
        text = ""
        for name in self.LOG_FILES:
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def stop(self):
        if self.proc is not None:
            peers._stop(self.proc, timeout=10)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class PostfixServer(ForeignServer):
    """Postfix 'master -d' from a private config/queue directory, smtpd on HOST:port with
    smtpd_upstream_proxy_protocol = haproxy (when proxied), delivering to a Maildir with the
    virtual(8) agent. Bounded: master exits by itself after max_seconds (-e)."""

    LOG_FILES = ("master.out", "maillog")

    def __init__(self, workdir, port, proxied=True, process_limit=100, max_seconds=900):
        self.dir = os.path.abspath(str(workdir))
        self.port, self.proxied = port, proxied
        self.process_limit, self.max_seconds = process_limit, max_seconds
        self.proc = None

    def maildir(self):
        return os.path.join(self.dir, "vmail", ACCOUNT, "new")

    def _write(self):
        uid, gid = _user_ids("postfix")
        etc = os.path.join(self.dir, "etc")
        os.makedirs(etc, exist_ok=True)
        os.chmod(self.dir, 0o755)  # postfix's own user works in here
        for sub in ("vmail", "data", "spool"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chown(os.path.join(self.dir, "vmail"), uid, gid)
        os.chown(os.path.join(self.dir, "data"), uid, gid)
        with open(os.path.join(etc, "vmailbox"), "w") as f:
            f.write(f"{ADDRESS} {ACCOUNT}/\n")
        proxy = ("smtpd_upstream_proxy_protocol = haproxy\nsmtpd_upstream_proxy_timeout = 5s\n"
                 if self.proxied else "")
        main = f"""
compatibility_level = 3.6
queue_directory = {self.dir}/spool
data_directory = {self.dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = example.test
virtual_mailbox_base = {self.dir}/vmail
virtual_mailbox_maps = texthash:{etc}/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = {min(uid, 100)}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_event_limit_exceptions = 0.0.0.0/0
default_process_limit = {self.process_limit}
smtpd_banner = $myhostname ESMTP
biff = no
maillog_file = {self.dir}/maillog
maillog_file_prefixes = {self.dir}
message_size_limit = 52428800
virtual_mailbox_limit = 0
{proxy}"""
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write(main)
        with open("/etc/postfix/master.cf") as f:
            master = f.read().splitlines()
        out = []
        for line in master:
            if line.startswith("smtp ") and " inet " in line:
                line = f"{HOST}:{self.port} inet n - n - - smtpd"
            out.append(line)
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write("\n".join(out) + "\n")
        return etc

    def start(self):
        etc = self._write()
        for step in (["set-permissions", "create-missing"], ["check"]):
            # postfix commands log to syslog only; `script` gives them a tty to print on.
            cmd = " ".join(["postfix", "-c", etc, *step])
            proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                                  text=True, timeout=60, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise peers.PeerError(f"{cmd} failed:\n{proc.stdout}{proc.stderr}")
        self.log_path = os.path.join(self.dir, "master.out")
        self.proc = peers._spawn(["/usr/lib/postfix/sbin/master", "-d", "-c", etc,
                                  "-e", str(self.max_seconds)], self.log_path, self.dir)
        peers.wait_for_port(HOST, self.port, timeout=20, proc=self.proc)
        return self



class DovecotServer(ForeignServer):
    """Dovecot (-F, foreground) from a private config: imap on HOST:port with haproxy = yes
    and haproxy_trusted_networks = 127.0.0.0/8, plaintext LOGIN (as postern with assume-tls),
    one passwd-file user with the shared SHA512-CRYPT hash, Maildir under the workdir.
    performance: 'high' uses imap-login service_count = 0 (Dovecot's high-performance mode)."""

    LOG_FILES = ("dovecot.out", "dovecot.log")

    def __init__(self, workdir, port, performance="high", client_limit=1000):
        self.dir = os.path.abspath(str(workdir))
        self.port, self.performance, self.client_limit = port, performance, client_limit
        self.proc = None

    def maildir(self):
        return os.path.join(self.dir, "home", ACCOUNT, "Maildir")

    def _write(self):
        uid, gid = _user_ids("dovecot")
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        home = os.path.join(self.dir, "home")
        for path, _, files in os.walk(home):
            os.chown(path, uid, gid)
            for name in files:
                os.chown(os.path.join(path, name), uid, gid)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write(f"{ACCOUNT}:{{SHA512-CRYPT}}{SHA512_HASH}::::::\n")
        login = ("service_count = 0\n  process_min_avail = 2\n"
                 f"  client_limit = {self.client_limit}\n  vsz_limit = 1G\n"
                 if self.performance == "high" else
                 f"service_count = 1\n  process_limit = {self.client_limit}\n")
        conf = f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = postern-bench-{self.port}
log_path = {self.dir}/dovecot.log
protocols = imap
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
haproxy_trusted_networks = 127.0.0.0/8
haproxy_timeout = 5s
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
default_client_limit = {max(self.client_limit * 2, 2000)}
default_process_limit = {max(self.client_limit, 100)}
first_valid_uid = {min(uid, 100)}
mail_location = maildir:{home}/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
    haproxy = yes
  }}
  inet_listener imaps {{
    port = 0
  }}
  {login}
}}
service imap {{
  process_limit = {max(self.client_limit, 100)}
}}
service auth {{
  client_limit = {max(self.client_limit * 2, 2000)}
}}
"""
        self.config_path = os.path.join(self.dir, "dovecot.conf")
        with open(self.config_path, "w") as f:
            f.write(conf)

    def start(self):
        self._write()
        check = subprocess.run(["doveconf", "-c", self.config_path, "-n"], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise peers.PeerError(f"doveconf failed:\n{check.stderr}")
        self.log_path = os.path.join(self.dir, "dovecot.out")
        self.proc = peers._spawn(["dovecot", "-F", "-c", self.config_path], self.log_path,
                                 self.dir)
        peers.wait_for_port(HOST, self.port, timeout=20)
        return self



def fill_maildir(maildir, count, size, owner=None):
    """count messages of about size bytes in maildir/cur (flags :2,S), for FETCH runs."""
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    line = ("x" * 76 + "\r\n").encode()
    for i in range(count):
        head = (f"Message-ID: <fill{i}@bench.test>\r\nFrom: <a@bench.test>\r\n"
                f"To: <{ADDRESS}>\r\nSubject: message {i}\r\n\r\n").encode()
        body = line * max(1, (size - len(head)) // len(line))
        data = head + body
        name = f"{1700000000 + i}.M{i}P1.bench,S={len(data)}:2,S"
        with open(os.path.join(maildir, "cur", name), "wb") as f:
            f.write(data)
    if owner:
        uid, gid = _user_ids(owner)
        for path, _, files in os.walk(maildir):
            os.chown(path, uid, gid)
            for name in files:
                os.chown(os.path.join(path, name), uid, gid)


def free_ports(count):
    """count distinct free TCP ports on HOST (all held open while picking)."""
    import socket
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((HOST, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def fmt_rate(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def ratio(a, b):
    return f"{a / b:.2f}x" if b else "n/a"


def workdir(prefix):
    path = tempfile.mkdtemp(prefix=f"postern-{prefix}-")
    os.chmod(path, 0o755)  # postfix and dovecot run parts of themselves as their own users
    return path


def cleanup(path):
    shutil.rmtree(path, ignore_errors=True)
