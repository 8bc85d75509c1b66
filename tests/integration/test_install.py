"""`make install DESTDIR=...` installs the program, the codec library with its header and a
pkg-config file that works against the installed tree, the systemd unit (which
systemd-analyze accepts), the example configuration (which `postern check` accepts, with the
snippets for every proxy) and the man page (which man and groff render without warnings).
`make uninstall` removes it all again. Also doc/mkman.py's refusals.

The build under test ($POSTERN_BUILD) is installed as it is: make is told not to rebuild it.
"""
import os
import re
import shutil
import stat
import subprocess

import pytest

from peers import postern_binary, repo_root

PREFIX = "/usr/local"
FILES = {
    "bin/postern": 0o755,
    "lib/libpostern-proxy.a": 0o644,
    "include/postern/proxy.h": 0o644,
    "lib/pkgconfig/postern-proxy.pc": 0o644,
    "lib/systemd/system/postern.service": 0o644,
    "share/doc/postern/postern.toml.example": 0o644,
    "share/man/man8/postern.8": 0o644,
}
PROGRAM = r"""
#include <postern/proxy.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char h[] = "PROXY TCP6 2001:db8::1 2001:db8::2 40000 25\r\nEHLO x\r\n";
    struct proxy_header hdr;
    int n = proxy_parse((const uint8_t *)h, strlen(h), NULL, &hdr);
    char ip[PROXY_IP_TEXT_MAX];
    proxy_ip_format(&hdr.src, ip);
    printf("%d v%u %s %u\n", n, hdr.version, ip, hdr.src_port);
    return 0;
}
"""


def make(*args, check=True):
    build = os.path.dirname(postern_binary())
    cmd = ["make", "--no-print-directory", f"BUILD={build}",
           "-o", os.path.join(build, "postern"), "-o", os.path.join(build, "libpostern-proxy.a"),
           *args]
    proc = subprocess.run(cmd, cwd=repo_root(), capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    if not shutil.which("make"):
        pytest.skip("needs make")
    root = tmp_path_factory.mktemp("stage")
    make("install", f"PREFIX={PREFIX}", f"DESTDIR={root}")
    return root


def staged(stage, rel):
    return os.path.join(str(stage), PREFIX.lstrip("/"), rel)


def test_installs_the_listed_files(stage):
    for rel, mode in FILES.items():
        path = staged(stage, rel)
        assert os.path.isfile(path), rel
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, rel
    proc = subprocess.run([staged(stage, "bin/postern"), "version"], capture_output=True,
                          text=True)
    assert re.fullmatch(r"postern \d+\.\d+\.\d+\n", proc.stdout)
    with open(staged(stage, "lib/pkgconfig/postern-proxy.pc")) as f:
        pc = f.read()
    assert "prefix=/usr/local\n" in pc and "libdir=${prefix}/lib\n" in pc
    assert f"Version: {proc.stdout.split()[1]}\n" in pc


@pytest.mark.requires("pkg-config", "cc")
def test_pkg_config_builds_a_program_against_the_installed_codec(stage, tmp_path):
    env = dict(os.environ, PKG_CONFIG_PATH=staged(stage, "lib/pkgconfig"),
               PKG_CONFIG_SYSROOT_DIR=str(stage))
    env.pop("PKG_CONFIG_LIBDIR", None)
    proc = subprocess.run(["pkg-config", "--cflags", "--libs", "postern-proxy"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    flags = proc.stdout.split()
    assert f"-I{staged(stage, 'include')}" in flags
    assert f"-L{staged(stage, 'lib')}" in flags and "-lpostern-proxy" in flags
    source = tmp_path / "decode.c"
    source.write_text(PROGRAM)
    program = tmp_path / "decode"
    compiler = ["cc"]
    with open(staged(stage, "lib/libpostern-proxy.a"), "rb") as f:
        if b"__asan_" in f.read():  # the ASan+UBSan build: link its runtimes too
            compiler = ["clang", "-fsanitize=address,undefined"]
    cc = subprocess.run([*compiler, "-std=c17", "-Wall", "-Wextra", "-Werror", str(source),
                         *flags, "-o", str(program)], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    out = subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout
    assert out == "45 v1 2001:db8::1 40000\n"


def test_example_configuration_is_valid_and_has_every_proxy(stage):
    path = staged(stage, "share/doc/postern/postern.toml.example")
    proc = subprocess.run([postern_binary(), "check", "--config", path], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # not even a warning
    assert "listener metrics: bind 127.0.0.1:9100; protocol metrics" in proc.stdout
    with open(path) as f:
        text = f.read()
    for proxy, marker in (("HAProxy", "send-proxy-v2"), ("nginx", "proxy_protocol on;"),
                          ("Traefik", "proxyProtocol:"), ("Caddy", '"proxy_protocol": "v2"')):
        assert proxy in text and marker in text, proxy


def test_systemd_unit(stage, tmp_path):
    path = staged(stage, "lib/systemd/system/postern.service")
    with open(path) as f:
        unit = f.read()
    for line in ("Type=notify", "ExecStart=/usr/local/bin/postern --config "
                 "/etc/postern/postern.toml", "ExecReload=/bin/kill -HUP $MAINPID",
                 "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/postern", "PrivateTmp=yes", "ProtectHome=yes",
                 "ProtectKernelTunables=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                 "SystemCallArchitectures=native", "LockPersonality=yes",
                 "MemoryDenyWriteExecute=yes"):
        assert f"\n{line}\n" in unit, line
    caps = re.search(r"\nCapabilityBoundingSet=(.*)\n", unit).group(1).split()
    assert {"CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"} <= set(caps)
    assert "AmbientCapabilities" not in unit
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("needs systemd-analyze (package systemd) for the rest")
    # verify wants ExecStart to exist and man to know postern(8): point both at the stage.
    copy = tmp_path / "postern.service"
    copy.write_text(unit.replace("/usr/local/bin/postern", staged(stage, "bin/postern")))
    env = dict(os.environ, MANPATH=staged(stage, "share/man"))
    proc = subprocess.run([analyze, "verify", str(copy)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.requires("man", "groff")
def test_man_page_renders(stage):
    page = staged(stage, "share/man/man8/postern.8")
    groff = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True,
                           text=True)
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0")
    proc = subprocess.run(["man", "-l", page], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = re.sub(r".\x08", "", proc.stdout)
    assert text.startswith("POSTERN(8)")
    for heading in ("NAME", "SYNOPSIS", "COMMANDS", "CONFIGURATION", "PRIVILEGES", "SIGNALS",
                    "FILES", "EXIT STATUS"):
        assert f"\n{heading}\n" in text, heading
    for synopsis in ("postern check [--config FILE]", "postern proxy decode",
                     "postern proxy encode", "postern hash-password", "postern version",
                     "--log-format logfmt|json", "--log-level debug|info|warn|error"):
        assert synopsis in text, synopsis
    for signal in ("SIGHUP", "SIGTERM, SIGINT", "SIGUSR1"):
        assert f"\n       {signal}" in text, signal


def test_make_man_and_mkman_refusals(tmp_path):
    out = tmp_path / "page.8"
    src = tmp_path / "page.md"
    src.write_text('<!-- man: demo 1 "demo VERSION" "Demo" -->\n# NAME\n\ndemo - a demo\n\n'
                   '# DESCRIPTION\n\n.starts with a dot, uses \\ and **--bold**\n\n'
                   "**--flag** *X*\n: does X\n  and more\n")
    script = os.path.join(repo_root(), "doc", "mkman.py")
    header = os.path.join(repo_root(), "src", "version.h")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    proc = subprocess.run(["/usr/bin/python3", script, str(src), str(out), "--version-header",
                           header], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith('.TH DEMO 1 "1970-01-01" "demo ')
    assert "demo \\- a demo\n" in page
    assert "\\&.starts with a dot, uses \\e and \\fB\\-\\-bold\\fR\n" in page
    assert ".TP\n\\fB\\-\\-flag\\fR \\fIX\\fR\ndoes X and more\n" in page
    src.write_text('<!-- man: demo 1 "x" "y" -->\n# NAME\n\n<b>html</b>\n')
    proc = subprocess.run(["/usr/bin/python3", script, str(src), str(out)],
                          capture_output=True, text=True, cwd=repo_root())
    assert proc.returncode == 1 and ":4: unsupported markup" in proc.stderr
    src.write_text("# NAME\n")
    proc = subprocess.run(["/usr/bin/python3", script, str(src), str(out)],
                          capture_output=True, text=True, cwd=repo_root())
    assert proc.returncode == 1 and "first line must be" in proc.stderr


def test_uninstall(tmp_path):
    root = tmp_path / "again"
    make("install", f"PREFIX={PREFIX}", f"DESTDIR={root}")
    make("uninstall", f"PREFIX={PREFIX}", f"DESTDIR={root}")
    left = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
    assert left == []
