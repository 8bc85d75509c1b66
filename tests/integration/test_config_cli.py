"""postern check: validates a configuration file (or the embedded default) and prints the
effective listeners; exit 0 valid, 1 invalid, 64 usage."""
import re

SEED_GLOBAL = '[server.proxy]\ntrusted-networks = ["127.0.0.0/8", "::1", "10.0.0.0/8"]\n'
SEED_LISTENER = '[server.listener."smtp".proxy]\ntrusted-networks = ["127.0.0.0/8", "::1", "10.0.0.0/8"]\n'
SEED_BROKEN = 'trusted-networks = {"", "::1", ""}\n'
SMTP = '[server.listener."smtp"]\nbind = "127.0.0.1:2525"\nprotocol = "smtp"\n'


def write(workdir, text, name="postern.toml"):
    path = workdir / name
    path.write_text(text)
    return path


def check(run_postern, path):
    proc = run_postern("check", "--config", path)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_embedded_default(run_postern):
    proc = run_postern("check")
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    assert err == ""
    assert "config <embedded default>\n" in out
    for line in [
        "listener smtp: bind 127.0.0.1:2525; protocol smtp; tls implicit no; proxy off",
        "listener submission: bind 127.0.0.1:2587; protocol smtp; tls implicit no; "
        "submission yes (AUTH before MAIL); proxy off",
        "listener imap: bind 127.0.0.1:2143; protocol imap; tls implicit no; proxy off",
        "listener smtp-proxy: bind 127.0.0.1:2526; protocol smtp; tls implicit no; "
        "proxy trusted 127.0.0.0/8, ::1/128 (from listener)",
        "listener imap-proxy: bind 127.0.0.1:2144; protocol imap; tls implicit no; "
        "proxy trusted 127.0.0.0/8, ::1/128 (from listener)",
    ]:
        assert line in out.splitlines(), out
    assert "proxy: trusted none; timeout 5s; max-header-size 4096" in out
    assert ("session: data.limits.size 26214400 (25 MiB); rcpt.max-recipients 100; "
            "max-errors 10; max-commands-before-mail 50") in out.splitlines()
    assert ("auto-ban: auth.rate 5/10m; abuse.rate 20/10m; duration 1h; "
            "max-connections-per-client 20") in out.splitlines()
    assert "directory: 0 accounts" in out.splitlines()


def test_seed_snippets_verbatim(run_postern, workdir):
    path = write(workdir, SEED_GLOBAL + SMTP + '[server.listener.direct]\nbind = "[::1]:2526"\n'
                 'protocol = "imap"\nproxy.trusted-networks = []\n')
    code, out, err = check(run_postern, path)
    assert code == 0, err
    assert err == ""
    assert ("listener smtp: bind 127.0.0.1:2525; protocol smtp; tls implicit no; proxy trusted "
            "127.0.0.0/8, ::1/128, 10.0.0.0/8 (from global)") in out
    assert "listener direct: bind [::1]:2526; protocol imap; tls implicit no; proxy off" in out

    path = write(workdir, SMTP + SEED_LISTENER)
    code, out, err = check(run_postern, path)
    assert code == 0, err
    assert "proxy trusted 127.0.0.0/8, ::1/128, 10.0.0.0/8 (from listener)" in out


def test_broken_seed_names_key_and_line(run_postern, workdir):
    path = write(workdir, SMTP + "[server.proxy]\n" + SEED_BROKEN)
    code, out, err = check(run_postern, path)
    assert code == 1
    assert out == ""
    assert f"error: {path}:5:23: expected '=' after key" in err
    assert f"hint: {path}:5: server.proxy.trusted-networks: braces {{}}" in err
    assert "square brackets" in err


def test_invalid_values_name_file_line_key(run_postern, workdir):
    path = write(workdir, '[server.listener.smtp]\nbind = ["127.0.0.1:2525", "::1:2525"]\n'
                 'protocol = "pop3"\n[server.listener.b]\nbind = "127.0.0.1:2525"\n'
                 'protocol = "imap"\n[server.proxy]\ntrusted-networks = "10.0.0.0/33"\n')
    code, out, err = check(run_postern, path)
    assert code == 1
    assert out == ""
    expected = [
        f'error: {path}:2: server.listener.smtp.bind: "::1:2525": an IPv6 address must be in '
        'brackets',
        f'error: {path}:3: server.listener.smtp.protocol: unknown protocol "pop3" (postern '
        'supports "smtp", "imap" and "metrics")',
        f'error: {path}:5: server.listener.b.bind: 127.0.0.1:2525 is already bound by listener '
        'smtp (line 2)',
        f'error: {path}:8: server.proxy.trusted-networks: "10.0.0.0/33": prefix length must be '
        '0-32 for IPv4',
    ]
    for line in expected:
        assert line in err, err
    assert len(re.findall(r"^error: ", err, re.M)) == len(expected), err
    assert f"postern check: {path}: configuration is not valid" in err


def test_unknown_keys_warn_but_pass(run_postern, workdir):
    path = write(workdir, SMTP + 'foo = 1\n[storage]\ndata = "rocksdb"\n')
    code, out, err = check(run_postern, path)
    assert code == 0, err
    assert f"warning: {path}:4: unknown key server.listener.smtp.foo (ignored)" in err
    assert f"warning: {path}:6: unknown key storage.data (ignored)" in err
    assert "listener smtp:" in out


def test_macros(run_postern, workdir, monkeypatch):
    secret = write(workdir, "10.9.0.0/16\n", "trusted.txt")
    monkeypatch.setenv("POSTERN_TEST_BIND", "127.0.0.1:2600")
    path = write(workdir, '[server.listener.a]\nbind = "%{env:POSTERN_TEST_BIND}%"\n'
                 'protocol = "smtp"\n'
                 f'proxy.trusted-networks = ["%{{file:{secret}}}%", "::1"]\n')
    code, out, err = check(run_postern, path)
    assert code == 0, err
    assert ("listener a: bind 127.0.0.1:2600; protocol smtp; tls implicit no; proxy trusted "
            "10.9.0.0/16, ::1/128 (from listener)") in out

    monkeypatch.delenv("POSTERN_TEST_BIND")
    code, out, err = check(run_postern, path)
    assert code == 1
    assert (f"error: {path}:2: server.listener.a.bind: %{{env:POSTERN_TEST_BIND}}%: environment "
            "variable POSTERN_TEST_BIND is not set") in err


def test_unreadable_file(run_postern, workdir):
    code, out, err = check(run_postern, workdir / "missing.toml")
    assert code == 1
    assert "cannot read: No such file or directory" in err


def test_usage(run_postern):
    assert run_postern("check", "--bogus").returncode == 64
    assert run_postern("check", "extra").returncode == 64
    assert run_postern("check", "--config").returncode == 64
    proc = run_postern("check", "--help")
    assert proc.returncode == 0
    assert b"usage: postern check [--config FILE]" in proc.stdout
    assert b"check" in run_postern("help").stdout
