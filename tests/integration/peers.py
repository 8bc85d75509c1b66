"""Real peers for postern's integration tests: HAProxy, nginx, TLS certificates, clients.

Standard library only. Everything is bounded in time and every process started here is a child
of the caller that is killed when its context manager exits (and, as a safety net, when the
calling thread dies: PR_SET_PDEATHSIG, and at interpreter exit).

    from peers import HAProxy, Nginx, connect_from, free_port, make_cert

    port, backend = free_port(), free_port()
    with HAProxy(f'''
    defaults
        mode tcp
        timeout connect 2s
        timeout client 5s
        timeout server 5s
    listen smtp
        bind 127.0.0.1:{port}
        server postern 127.0.0.1:{backend} send-proxy-v2
    ''', workdir=tmp_path) as hap:
        with connect_from("127.0.0.2", "127.0.0.1", port) as sock:
            ...

Addresses: only 127.0.0.0/8 and ::1. Linux routes all of 127/8 to lo, so a client can bind any
127.x.y.z source address to be told apart from the proxy (which connects from 127.0.0.1).
"""
import atexit
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import namedtuple

__all__ = [
    "PeerError", "ConfigError", "HAProxy", "Nginx", "Cert",
    "repo_root", "postern_binary", "free_port", "wait_for_port", "is_listening",
    "connect_from", "make_cert", "find_program", "missing_programs", "Postern", "parse_logfmt",
    "NGINX_STREAM_MODULE", "START_TIMEOUT", "STOP_TIMEOUT",
]

START_TIMEOUT = 10.0  # seconds a peer may take to start listening
STOP_TIMEOUT = 5.0    # seconds between SIGTERM and SIGKILL
CHECK_TIMEOUT = 15.0  # seconds for a config check (haproxy -c, nginx -t)
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


class PeerError(RuntimeError):
    """A peer process failed to start, died, or did not listen in time."""


class ConfigError(PeerError):
    """The peer's configuration check failed; the message carries its output."""


# ---------------------------------------------------------------------------------------------
# Paths and programs

def repo_root():
    """The postern checkout: $POSTERN_ROOT, else two levels above this file."""
    env = os.environ.get("POSTERN_ROOT")
    if env:
        return os.path.abspath(env)
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def postern_binary():
    """$POSTERN_BUILD/postern (default <repo>/build/postern). Not checked for existence."""
    build = os.environ.get("POSTERN_BUILD") or os.path.join(repo_root(), "build")
    return os.path.join(os.path.abspath(build), "postern")


def find_program(name):
    """Absolute path of a program, also looking in the sbin directories (haproxy lives there)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def missing_programs(*names):
    """The subset of names that cannot be run here ('nginx-stream' means nginx + stream module)."""
    missing = []
    for name in names:
        if name == "nginx-stream":
            if not find_program("nginx"):
                missing.append("nginx")
            elif not os.path.exists(NGINX_STREAM_MODULE):
                missing.append(f"nginx stream module ({NGINX_STREAM_MODULE}, "
                               "package libnginx-mod-stream)")
        elif not find_program(name):
            missing.append(name)
    return missing


# ---------------------------------------------------------------------------------------------
# Ports and sockets

def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host="127.0.0.1"):
    """An ephemeral TCP port that is free on host right now (bind to port 0, then release)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _proc_net_listeners():
    """(ip_address, port, inode) of every listening TCP socket in this network namespace."""
    out = []
    for name, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A = TCP_LISTEN
                continue
            addr_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(addr_hex)
            # The kernel prints each 32-bit word of the address in host byte order.
            if sys.byteorder == "little":
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.append((ipaddress.ip_address(raw), int(port_hex, 16), int(fields[9])))
    return out


def _socket_inodes(pid):
    """Inodes of the sockets process pid has open (empty when it cannot be read)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def is_listening(host, port, pid=None):
    """True when a TCP socket listens on host:port (or on the wildcard of host's family), and,
    with pid, when that socket belongs to process pid (so another program holding the port
    does not count as our peer having started).

    Looks at /proc/net/tcp{,6}, so it never opens a connection: a probe connection through a
    proxy would reach the backend and pollute what the backend records."""
    want = ipaddress.ip_address(host)
    owned = _socket_inodes(pid) if pid is not None else None
    for addr, p, inode in _proc_net_listeners():
        if p != port or (owned is not None and inode not in owned):
            continue
        if addr == want or (addr.is_unspecified and addr.version in (want.version, 6)):
            return True
        # A dual-stack socket bound to ::ffff:a.b.c.d (or ::) also serves a.b.c.d.
        if addr.version == 6 and addr.ipv4_mapped is not None and addr.ipv4_mapped == want:
            return True
    return False


def wait_for_port(host, port, timeout=START_TIMEOUT, proc=None):
    """Waits until host:port listens; raises PeerError on timeout or when proc has exited.

    Uses /proc/net (no connection is made) and, with proc, requires the listening socket to be
    proc's own; without /proc it falls back to a connect probe."""
    deadline = time.monotonic() + timeout
    use_proc = os.path.exists("/proc/net/tcp")
    while True:
        if proc is not None and proc.poll() is not None:
            raise PeerError(f"process exited with status {proc.returncode} before "
                            f"listening on {host}:{port}")
        if use_proc:
            if is_listening(host, port, proc.pid if proc is not None else None):
                return
        else:
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                pass
        if time.monotonic() >= deadline:
            raise PeerError(f"nothing listens on {host}:{port} after {timeout:g}s")
        time.sleep(0.02)


class LineConversation:
    """A raw line-based conversation (SMTP, IMAP) over a connected socket: what the protocol
    libraries cannot express. Subclasses read their protocol's replies with line()."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self, timeout=None):
        """One line without CRLF; what is left (or None) when the server closed."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b"\r\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest or None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line


def connect_from(src_ip, host, port, timeout=5.0):
    """A TCP socket connected to host:port from the loopback source address src_ip.

    src_ip is e.g. "127.0.0.2" (any 127/8 address works on Linux) or "::1"; the source port is
    ephemeral (sock.getsockname() tells it). The socket has `timeout` set for later I/O."""
    if _family(src_ip) != _family(host):
        raise ValueError(f"source {src_ip} and destination {host} are of different families")
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.bind((src_ip, 0))
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


# ---------------------------------------------------------------------------------------------
# Certificates

Cert = namedtuple("Cert", "cert key pem cn")
Cert.__doc__ = """Paths of a PEM certificate, its key, both concatenated (HAProxy's crt/ca form),
and the CN."""


def make_cert(directory, cn, key="ec", days=30, name=None):
    """A self-signed certificate for cn (also a subjectAltName DNS entry) made with `openssl`.

    key: "ec" (P-256, fast) or "rsa" (2048 bits). The certificate is also a CA (openssl req -x509
    default), so it can be given as its own trust anchor (HAProxy ca-file, ssl cafile).
    Returns Cert(cert, key, pem, cn); pem is cert followed by key."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, name or cn)
    if key == "ec":
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    elif key == "rsa":
        newkey = ["-newkey", "rsa:2048"]
    else:
        raise ValueError(f"key must be 'ec' or 'rsa', not {key!r}")
    openssl = find_program("openssl")
    if not openssl:
        raise PeerError("openssl is not installed")
    cmd = [openssl, "req", "-x509", *newkey, "-sha256", "-nodes", "-days", str(days),
           "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}",
           "-keyout", base + ".key", "-out", base + ".crt"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHECK_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise PeerError(f"openssl req failed ({proc.returncode}):\n{proc.stderr}")
    with open(base + ".crt") as c, open(base + ".key") as k, open(base + ".pem", "w") as p:
        p.write(c.read() + k.read())
    return Cert(base + ".crt", base + ".key", base + ".pem", cn)


# ---------------------------------------------------------------------------------------------
# Child processes

_children = set()
_children_lock = threading.Lock()


_SETPRIV = shutil.which("setpriv")


def _spawn(argv, log_path, cwd):
    """Starts argv with stdout+stderr appended to log_path. With util-linux setpriv, the child
    also gets SIGKILL when the thread that started it dies (PR_SET_PDEATHSIG), so a killed test
    run leaves nothing behind: start peers from the thread that uses them."""
    if _SETPRIV:
        argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=cwd)
    finally:
        log.close()
    with _children_lock:
        _children.add(proc)
    return proc


def _stop(proc, timeout=STOP_TIMEOUT):
    """SIGTERM, then SIGKILL after timeout; always reaps. Returns the exit status."""
    try:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
    finally:
        with _children_lock:
            _children.discard(proc)
    return proc.returncode


@atexit.register
def _kill_leftovers():
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        try:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
        except Exception:
            pass


def _split_hostport(text, default_host):
    """'127.0.0.1:25' / '[::1]:25' / '*:25' / ':25' / '25' -> (host, port), or None."""
    text = text.strip().rstrip(";")
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)", text)
    if m:
        return m.group(1), int(m.group(2))
    m = re.fullmatch(r"(?:(\d+\.\d+\.\d+\.\d+|\*|)?:)?(\d+)", text)
    if m:
        host = m.group(1)
        return (default_host if host in (None, "", "*") else host), int(m.group(2))
    return None


class _Peer:
    """Common start/stop logic; subclasses provide the files, the check and the command."""

    kind = "peer"

    def __init__(self, config_text, workdir=None, ports=None, start_timeout=START_TIMEOUT,
                 show_log=True):
        self.config_text = config_text
        self._own_dir = workdir is None
        self.dir = str(workdir) if workdir is not None else None
        self.ports = ports
        self.start_timeout = start_timeout
        self.show_log = show_log
        self.proc = None
        self.config_path = self.log_path = None

    # -- to override
    def _write_files(self):
        raise NotImplementedError

    def _check_cmd(self):
        raise NotImplementedError

    def _run_cmd(self):
        raise NotImplementedError

    def _listen_addresses(self):
        raise NotImplementedError

    # -- public
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log(self):
        """The process output so far (stdout and stderr, plus nginx's error log)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def check(self):
        """Runs the configuration check; raises ConfigError with the output when it fails."""
        proc = subprocess.run(self._check_cmd(), capture_output=True, text=True,
                              timeout=CHECK_TIMEOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        if proc.returncode != 0:
            raise ConfigError(f"{self.kind} configuration check failed "
                              f"({proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                              f"--- {self.config_path}\n{self._numbered_config()}")
        return proc.stdout + proc.stderr

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix=f"postern-{self.kind}-")
        os.makedirs(self.dir, exist_ok=True)
        self._write_files()
        self.check()
        self.proc = _spawn(self._run_cmd(), self.log_path, self.dir)
        try:
            addresses = self.ports if self.ports is not None else self._listen_addresses()
            if self.ports is None and not addresses:
                raise PeerError(f"no listening address found in the {self.kind} config; "
                                "pass ports=[(host, port), ...] (or ports=[] not to wait)")
            deadline = time.monotonic() + self.start_timeout
            for host, port in addresses:
                wait_for_port(host, port, max(0.1, deadline - time.monotonic()), self.proc)
            if self.proc.poll() is not None:
                raise PeerError(f"{self.kind} exited with status {self.proc.returncode}")
        except BaseException as exc:
            self.stop(failed=True, reason=exc)
            raise
        return self

    def stop(self, failed=False, reason=None):
        if self.proc is None:
            return
        status = _stop(self.proc)
        if failed and self.show_log:
            sys.stderr.write(f"\n--- {self.kind} (pid {self.proc.pid}, exit {status}) log "
                             f"[{reason!r}]\n{self.log()}\n--- config {self.config_path}\n"
                             f"{self._numbered_config()}\n")
        self.proc = None
        if self._own_dir:  # a private temp dir; on failure its log and config were printed
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(failed=exc_type is not None, reason=exc)
        return False

    def _numbered_config(self):
        try:
            with open(self.config_path) as f:
                return "".join(f"{i:4} {line}" for i, line in enumerate(f, 1))
        except (OSError, TypeError):
            return ""


class HAProxy(_Peer):
    """HAProxy in the foreground (-db) on config_text, as a context manager.

    The config is written to <workdir>/haproxy.cfg (workdir: a given directory, e.g. pytest's
    tmp_path, or a private temp dir removed at stop). `haproxy -c` runs first; errors raise
    ConfigError with its output. Start waits until every `bind` address listens (or the
    (host, port) pairs in `ports`; pass ports=[] for a config with no frontend). Add
    `log stderr format raw local0` to the global section to see HAProxy's logs in log()."""

    kind = "haproxy"

    def __init__(self, config_text, workdir=None, ports=None, start_timeout=START_TIMEOUT,
                 show_log=True, binary=None):
        super().__init__(config_text, workdir, ports, start_timeout, show_log)
        self.binary = binary or find_program("haproxy")
        if not self.binary:
            raise PeerError("haproxy is not installed")
        if re.search(r"^\s*daemon\b", config_text, re.M):
            raise ConfigError("HAProxy config must not say 'daemon': it runs as a child here")

    def _write_files(self):
        self.config_path = os.path.join(self.dir, "haproxy.cfg")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        with open(self.config_path, "w") as f:
            f.write(self.config_text.strip("\n") + "\n")

    def _check_cmd(self):
        return [self.binary, "-c", "-f", self.config_path]

    def _run_cmd(self):
        return [self.binary, "-db", "-f", self.config_path]

    def _listen_addresses(self):
        out = []
        for m in re.finditer(r"^\s*bind\s+(\S+)", self.config_text, re.M):
            for part in m.group(1).split(","):
                hp = _split_hostport(part, "0.0.0.0")
                if hp:
                    out.append(hp)
        return out


class Nginx(_Peer):
    """nginx in the foreground, single process, on a stream configuration.

    stream_config_text is the body of the `stream { }` block (servers, upstreams), or a text that
    already contains a top-level `stream {` block. It is wrapped in a main configuration that
    loads the stream module and keeps everything in workdir: `daemon off; master_process off;`,
    pid file, error log at `info` (shown by log()). `nginx -t` runs first. Start waits until every
    `listen` address listens (or the (host, port) pairs in `ports`)."""

    kind = "nginx"

    def __init__(self, stream_config_text, workdir=None, ports=None,
                 start_timeout=START_TIMEOUT, show_log=True, binary=None,
                 module=NGINX_STREAM_MODULE, main_extra=""):
        super().__init__(stream_config_text, workdir, ports, start_timeout, show_log)
        self.binary = binary or find_program("nginx")
        if not self.binary:
            raise PeerError("nginx is not installed")
        if module and not os.path.exists(module):
            raise PeerError(f"nginx stream module missing: {module} (libnginx-mod-stream)")
        self.module = module
        self.main_extra = main_extra

    def _full_config(self):
        body = self.config_text.strip("\n")
        if not re.search(r"^\s*stream\s*\{", body, re.M):
            body = "stream {\n" + body + "\n}"
        load = f"load_module {self.module};\n" if self.module else ""
        return (f"{load}"
                "daemon off;\n"
                "master_process off;\n"
                "worker_processes 1;\n"
                f"pid {self.dir}/nginx.pid;\n"
                f"error_log {self.log_path} info;\n"
                f"{self.main_extra}"
                "events { worker_connections 256; }\n"
                f"{body}\n")

    def _write_files(self):
        self.config_path = os.path.join(self.dir, "nginx.conf")
        self.log_path = os.path.join(self.dir, "nginx.log")
        with open(self.config_path, "w") as f:
            f.write(self._full_config())

    def _check_cmd(self):
        return [self.binary, "-t", "-q", "-p", self.dir + "/", "-e", self.log_path,
                "-c", self.config_path]

    def _run_cmd(self):
        return [self.binary, "-p", self.dir + "/", "-e", self.log_path, "-c", self.config_path]

    def _listen_addresses(self):
        out = []
        for m in re.finditer(r"(?:^|[;{])\s*listen\s+([^\s;]+)", self.config_text, re.M):
            if m.group(1).startswith("unix:"):
                continue
            hp = _split_hostport(m.group(1), "0.0.0.0")
            if hp:
                out.append(hp)
        return out


# ---------------------------------------------------------------------------------------------
# postern itself

_LOGFMT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    """One log line, logfmt or JSON, as a dict of strings."""
    if line.startswith("{"):
        import json
        return {k: (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in json.loads(line).items()}
    return parse_logfmt(line)


def parse_logfmt(line):
    """One logfmt line as a dict; quoted values are unescaped."""
    fields = {}
    for key, value in _LOGFMT_FIELD.findall(line):
        if value.startswith('"'):
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        fields[key] = value
    return fields


class Postern:
    """A postern server on loopback with its log captured.

        with Postern(config_text, workdir) as srv:
            srv.wait_event("connect", client="127.0.0.2")

    config_text is TOML; "{data_dir}" in it is replaced by a directory under workdir.
    The server logs in logfmt to a file; events() parses it.
    """

    def __init__(self, config_text, workdir, extra_args=(), start_timeout=START_TIMEOUT):
        self.dir = os.path.abspath(str(workdir))
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "postern.toml")
        self.log_path = os.path.join(self.dir, "postern.log")
        self.config_text = config_text.replace("{data_dir}", os.path.join(self.dir, "data"))
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.stderr_path = self.log_path
        if "--log-file" in self.extra_args:  # events then go to that file
            self.log_path = self.extra_args[self.extra_args.index("--log-file") + 1]
        self.proc = None
        self.returncode = None

    def start(self):
        with open(self.config_path, "w") as f:
            f.write(self.config_text)
        open(self.log_path, "wb").close()
        self.proc = _spawn([postern_binary(), "--config", self.config_path, *self.extra_args],
                           self.stderr_path, self.dir)
        try:
            self.wait_event("started", timeout=self.start_timeout)
        except PeerError:
            self.stop()
            raise
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def events(self, event=None, **match):
        """Parsed log lines, optionally only those with this event and these field values."""
        found = []
        for line in self.log().splitlines():
            fields = parse_log_line(line)
            if event is not None and fields.get("event") != event:
                continue
            if all(fields.get(k) == str(v) for k, v in match.items()):
                found.append(fields)
        return found

    def wait_event(self, event, timeout=5.0, **match):
        """Waits for a log event with these fields; returns it, or raises PeerError."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(event, **match)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                raise PeerError(f"postern exited ({self.proc.returncode}) before event "
                                f"{event} {match}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise PeerError(f"no event {event} {match} within {timeout}s:\n{self.log()}")
            time.sleep(0.02)

    def stop(self, timeout=STOP_TIMEOUT):
        if self.proc is not None and self.returncode is None:
            self.returncode = _stop(self.proc, timeout=timeout)
        return self.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False
