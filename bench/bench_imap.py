#!/usr/bin/python3
"""IMAP logins per second and FETCH throughput: postern against Dovecot, both behind PROXY v2.

Same generator, same traffic (only the port differs), the same SHA512-CRYPT password hash
(5000 rounds) on both, the same Maildir content (MESSAGES files of MESSAGE_SIZE bytes):
  logins  LOGIN, SELECT INBOX, FETCH 1:* (FLAGS), LOGOUT per connection
  fetch   LOGIN, SELECT INBOX, FETCHES x FETCH 1:* (BODY.PEEK[]), LOGOUT
postern: a proxied imap listener with proxy.assume-tls (so LOGIN is allowed in plain text, as
behind a TLS-terminating proxy). Dovecot 2.3: haproxy = yes, haproxy_trusted_networks,
ssl = no with disable_plaintext_auth = no; measured in its default mode (a login process per
connection) and its high-performance mode (service_count = 0).
If postern's IMAP service cannot log in yet, its column says "pending" and Dovecot's figures
are still measured. Nothing is asserted.
"""
import argparse
import os
import sys

import benchlib
from benchlib import HOST, say

MESSAGES = 20
MESSAGE_SIZE = 20 * 1024
FETCHES = 5


def load_args(case, port, seconds, concurrency):
    args = ["-s", "imap", "-c", concurrency, "-d", seconds, "--proxy", "v2",
            "--source", "127.0.4.1-127.0.4.200", "--proxy-src-range", "198.51.100.0/24",
            "--user", benchlib.ACCOUNT, "--pass", benchlib.PASSWORD]
    if case == "fetch":
        args += ["--fetch", "bodies", "--fetches", FETCHES]
    return args + [f"{HOST}:{port}"]


def run_case(tool, server, port, case, seconds, concurrency):
    cpu0 = benchlib.cpu_seconds(server.pids)
    result = benchlib.run_load(tool, load_args(case, port, seconds, concurrency))
    logins = result["logins"]["ok"]
    return {"logins": result["logins"]["per_s"], "ok": result["sessions"]["ok"],
            "mib": result["fetched"]["bytes_per_s"] / 1048576,
            "msgs": result["fetched"]["messages"] / result["elapsed_s"],
            "cpu_us": (benchlib.cpu_seconds(server.pids) - cpu0) / logins * 1e6 if logins else 0,
            "login_p50": result["latency_ms"].get("login", {}).get("p50", 0),
            "login_p99": result["latency_ms"].get("login", {}).get("p99", 0),
            "errors": result["errors"], "cmd": " ".join(map(str, result["argv"]))}


def postern_imap_works(tool, port):
    """One LOGIN + SELECT + FETCH session; False while postern's IMAP is not finished."""
    result = benchlib.run_load(tool, ["-s", "imap", "-c", 1, "-n", 1, "--timeout", 5,
                                      "--proxy", "v2", "--user", benchlib.ACCOUNT,
                                      "--pass", benchlib.PASSWORD, f"{HOST}:{port}"])
    return result["sessions"]["ok"] == 1, result["errors"]


def bench_postern(tool, args, work, port):
    listener = ("imap-proxy", port, "imap", True, "proxy.assume-tls = true\n")
    srv = benchlib.PosternServer(args.build, benchlib.postern_config([listener]),
                                 f"{work}/postern")
    benchlib.fill_maildir(os.path.join(srv.dir, "data", benchlib.ACCOUNT), MESSAGES,
                          MESSAGE_SIZE)
    srv.start()
    try:
        works, errors = postern_imap_works(tool, port)
        if not works:
            return None, f"pending: postern's IMAP service cannot serve the scenario yet ({errors})"
        return {case: run_case(tool, srv, port, case, args.seconds, args.concurrency)
                for case in ("logins", "fetch")}, ""
    finally:
        srv.stop()


def bench_dovecot(tool, args, work, port, mode):
    dove = benchlib.DovecotServer(f"{work}/dovecot-{mode}", port, performance=mode,
                                  client_limit=max(100, args.concurrency * 4))
    benchlib.fill_maildir(dove.maildir(), MESSAGES, MESSAGE_SIZE)
    try:
        dove.start()
    except Exception as exc:  # noqa: BLE001 - say why and go on
        return None, f"Dovecot cannot be started: {exc}"
    try:
        return {case: run_case(tool, dove, port, case, args.seconds, args.concurrency)
                for case in ("logins", "fetch")}, ""
    finally:
        dove.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build-bench")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    tool = benchlib.postern_load(args.build)
    installed, note = benchlib.ensure_mail_packages()
    if note:
        say(f"note: {note}")
    work = benchlib.workdir("imap")
    ports = benchlib.free_ports(3)
    columns, notes = {}, []
    try:
        columns["postern"], why = bench_postern(tool, args, work, ports[0])
        if why:
            notes.append(f"postern: {why}")
        if installed:
            for mode, port in (("default", ports[1]), ("high", ports[2])):
                columns[f"dovecot-{mode}"], why = bench_dovecot(tool, args, work, port, mode)
                if why:
                    notes.append(why)
        else:
            notes.append(f"Dovecot cannot be installed: {note}")
    finally:
        benchlib.cleanup(work)
    report(columns, notes, args)
    return 0


def report(columns, notes, args):
    say(f"IMAP behind PROXY v2: postern vs Dovecot 2.3, {args.concurrency} connections at "
        f"once, {args.seconds:g}s per case, INBOX of {MESSAGES} x {MESSAGE_SIZE // 1024} KiB, "
        "SHA512-CRYPT on both")
    names = [("postern", "postern"), ("dovecot-default", "Dovecot"),
             ("dovecot-high", "Dovecot high-perf")]
    say(f"  {'case':<30}" + "".join(f"{label:>19}" for _, label in names))
    rows = [("logins/s (LOGIN+SELECT+FLAGS)", "logins", "logins"),
            ("  server CPU per login, us", "logins", "cpu_us"),
            ("  LOGIN p50 ms", "logins", "login_p50"),
            ("  LOGIN p99 ms", "logins", "login_p99"),
            (f"FETCH bodies MiB/s ({FETCHES}/login)", "fetch", "mib"),
            ("FETCH messages/s", "fetch", "msgs")]
    for label, case, field in rows:
        cells = []
        for key, _ in names:
            col = columns.get(key)
            cells.append("pending" if key == "postern" and col is None else
                         "-" if col is None else
                         f"{col[case][field]:.2f}" if field.endswith(("p50", "p99", "mib")) else
                         benchlib.fmt_rate(col[case][field]))
        say(f"  {label:<30}" + "".join(f"{c:>19}" for c in cells))
    base = columns.get("postern")
    for key, label in names[1:]:
        other = columns.get(key)
        if base and other:
            say(f"  postern / {label}: logins {benchlib.ratio(base['logins']['logins'], other['logins']['logins'])}"
                f", FETCH {benchlib.ratio(base['fetch']['mib'], other['fetch']['mib'])}")
    for key, col in columns.items():
        if col:
            errs = {k: v for c in col.values() for k, v in c["errors"].items()}
            if errs:
                say(f"  {key} errors: {errs}")
    for text in notes:
        say(f"  {text}")
    for key, col in columns.items():
        if col:
            say(f"  command ({key}, logins): {col['logins']['cmd']}")
            break


if __name__ == "__main__":
    sys.exit(main())
