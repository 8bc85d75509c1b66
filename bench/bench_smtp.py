#!/usr/bin/python3
"""Connection rate and SMTP delivery rate: postern against Postfix smtpd, both behind PROXY v2.

Both servers run on loopback high ports from private directories, fed the same traffic by the
same postern-load command (only the port differs):
  connections  greet scenario: PROXY v2 header, 220, QUIT, 221, close
  delivery     smtp scenario: EHLO, MAIL, RCPT, DATA (1 KiB and 100 KiB), QUIT; fsync on
Postfix: smtpd_upstream_proxy_protocol = haproxy, virtual(8) delivery to a Maildir. Its 250
comes once the queue file is on disk; delivery to the Maildir follows, so both "accepted" (250s
per second) and "delivered" (until the Maildir holds every accepted message) are printed.
postern delivers (fsync of file and directory) before its 250, so the two are the same.
Ratios are postern / Postfix within this run. Nothing is asserted.
"""
import argparse
import os
import sys
import time

import benchlib
from benchlib import HOST, say


def count_files(path):
    try:
        return len(os.listdir(path))
    except OSError:
        return 0


def wait_delivered(maildir, want, start, limit=180):
    """Seconds from start until maildir holds want messages (None on timeout)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if count_files(maildir) >= want:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def run_case(tool, server, port, case, seconds, concurrency):
    args = ["-c", concurrency, "-d", seconds, "--proxy", "v2",
            "--source", "127.0.3.1-127.0.3.200", "--proxy-src-range", "198.51.100.0/24"]
    if case == "connections":
        args += ["-s", "greet"]
    else:
        args += ["-s", "smtp", "--to", benchlib.ADDRESS, "--size", case]
    args.append(f"{HOST}:{port}")
    before = count_files(server.maildir())
    cpu0 = benchlib.cpu_seconds(server.pids)
    start = time.monotonic()
    result = benchlib.run_load(tool, args)
    out = {"cmd": " ".join(map(str, result["argv"])), "errors": result["errors"],
           "latency": result["latency_ms"]}
    if case == "connections":
        out["rate"] = result["sessions"]["per_s"]
        ok = result["sessions"]["ok"]
    else:
        ok = result["messages"]["ok"]
        out["rate"] = result["messages"]["per_s"]
        took = wait_delivered(server.maildir(), before + ok, start)
        out["delivered"] = ok / took if took else 0.0
    out["cpu_us"] = (benchlib.cpu_seconds(server.pids) - cpu0) / ok * 1e6 if ok else 0
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build-bench")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    tool = benchlib.postern_load(args.build)
    ok, note = benchlib.ensure_mail_packages()
    if note:
        say(f"note: {note}")
    work = benchlib.workdir("smtp")
    cases = ["connections", 1024, 102400]
    results = {"postern": {}, "postfix": {}}
    pport, fport = benchlib.free_ports(2)
    try:
        config = benchlib.postern_config([("smtp-proxy", pport, "smtp", True, "")])
        srv = benchlib.PosternServer(args.build, config, f"{work}/postern")
        srv.start()
        try:
            for case in cases:
                results["postern"][case] = run_case(tool, srv, pport, case, args.seconds,
                                                    args.concurrency)
        finally:
            srv.stop()
        if not ok:
            say(f"Postfix: cannot be installed, no comparison: {note}")
        else:
            postfix = benchlib.PostfixServer(f"{work}/postfix", fport,
                                             process_limit=max(100, args.concurrency * 2))
            try:
                postfix.start()
            except Exception as exc:  # noqa: BLE001 - tell and go on with postern's figures
                say(f"Postfix: cannot be started, no comparison: {exc}")
                postfix = None
            if postfix:
                try:
                    for case in cases:
                        results["postfix"][case] = run_case(tool, postfix, fport, case,
                                                            args.seconds, args.concurrency)
                finally:
                    postfix.stop()
    finally:
        benchlib.cleanup(work)
    report(results, args)
    return 0


def report(results, args):
    say(f"SMTP behind PROXY v2: postern vs Postfix 3.7 smtpd (Maildir, fsync on), "
        f"{args.concurrency} connections at once, {args.seconds:g}s per case")
    say(f"  {'case':<34}{'postern':>12}{'Postfix':>12}{'ratio':>9}")
    names = {"connections": "connections/s (greet, v2)", 1024: "1 KiB messages/s accepted",
             102400: "100 KiB messages/s accepted"}
    pn, pf = results["postern"], results["postfix"]
    for case, name in names.items():
        a = pn.get(case, {}).get("rate", 0)
        b = pf.get(case, {}).get("rate", 0)
        say(f"  {name:<34}{benchlib.fmt_rate(a):>12}{benchlib.fmt_rate(b) if b else '-':>12}"
            f"{benchlib.ratio(a, b) if b else '':>9}")
        if case != "connections" and case in pf:
            a2, b2 = pn[case].get("delivered", a), pf[case]["delivered"]
            label = name.replace("accepted", "in the Maildir")
            say(f"  {label:<34}{benchlib.fmt_rate(a2):>12}{benchlib.fmt_rate(b2):>12}"
                f"{benchlib.ratio(a2, b2):>9}")
    say(f"  {'server CPU per session/message':<34}")
    for case, name in names.items():
        a = pn.get(case, {}).get("cpu_us", 0)
        b = pf.get(case, {}).get("cpu_us", 0)
        say(f"    {str(case) if case != 'connections' else 'connection':<32}{a:>9.0f} us"
            f"{(f'{b:>9.0f} us') if b else '-':>12}"
            f"{(benchlib.ratio(b, a) + ' less') if a and b else '':>14}")
    for who, res in results.items():
        for case, r in res.items():
            lat = r["latency"].get("message" if case != "connections" else "session", {})
            errs = ", ".join(f"{k}={v}" for k, v in r["errors"].items()) or "none"
            say(f"  {who:<8}{str(case):<12} p50 {lat.get('p50', 0):.2f} ms  p99 "
                f"{lat.get('p99', 0):.2f} ms  errors: {errs}")
    if pn:
        say(f"  command (postern, 1 KiB): {pn[1024]['cmd']}")


if __name__ == "__main__":
    sys.exit(main())
