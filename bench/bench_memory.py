#!/usr/bin/python3
"""Memory per idle proxied connection: postern holding 10 000 connections (PROXY v2 header sent,
greeting received, then silence), against Postfix smtpd and Dovecot imap-login holding as many
as they reasonably can on this machine.

Resident memory is read from /proc/PID/smaps_rollup (Rss and Pss, summed over every process of a
server) before the connections and while they are held; per connection = growth / count.
Kernel socket buffers are not in these figures (they are the same for every server).
Postfix runs one smtpd process per connection, so it is measured with --others connections
(default 1000), as is Dovecot in its default mode (one imap-login process per connection);
Dovecot's high-performance mode (service_count = 0) holds --connections like postern.
Target for postern: under 8 KiB per connection. Nothing is asserted.
"""
import argparse
import os
import signal
import sys
import time

import benchlib
from benchlib import HOST, say


def hold(tool, server, port, count, rate, work, label):
    """Opens count idle proxied connections; returns the figures while they are held."""
    benchlib.raise_fd_limit(count + 1000)
    time.sleep(0.5)
    rss0, pss0 = benchlib.memory(server.pids)
    ready = os.path.join(work, f"ready-{label}")
    out = os.path.join(work, f"load-{label}.json")
    ramp = count / rate
    args = ["-s", "idle", "-c", count, "--hold", int(ramp + 60), "--rate", rate,
            "--proxy", "v2", "--source", "127.0.5.1-127.0.5.250",
            "--proxy-src-range", "198.51.100.0/24", "--ready-file", ready,
            "--timeout", 30, f"{HOST}:{port}"]
    load = benchlib.start_load(tool, args, out)
    deadline = time.monotonic() + ramp + 45
    try:
        while not os.path.exists(ready) and time.monotonic() < deadline and load.poll() is None:
            time.sleep(0.2)
        held = os.path.exists(ready)
        time.sleep(1.0)  # let the servers settle (login processes, lazy allocations)
        rss1, pss1 = benchlib.memory(server.pids)
        procs = len(server.pids)
        fds = sum(benchlib.fd_count(pid) for pid in server.pids)
    finally:
        load.send_signal(signal.SIGTERM)
        try:
            _, err = load.communicate(timeout=60)
        except Exception:  # noqa: BLE001 - never leave it behind
            load.kill()
            _, err = load.communicate()
    with open(out) as f:
        text = f.read().strip()
    summary = benchlib.json.loads(text.splitlines()[-1]) if text else {}
    greeted = summary.get("greeted", 0)
    return {"count": count, "greeted": greeted, "all_held": held, "procs": procs, "fds": fds,
            "rss": rss1 - rss0, "pss": pss1 - pss0, "rss_base": rss0, "pss_base": pss0,
            "errors": summary.get("errors", {}), "cmd": " ".join(map(str, [tool, *args])),
            "stderr": (err or "")[-500:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build-bench")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--others", type=int, default=1000,
                        help="connections for process-per-connection servers")
    parser.add_argument("--rate", type=int, default=2000, help="new connections per second")
    args = parser.parse_args()
    tool = benchlib.postern_load(args.build)
    limit = benchlib.raise_fd_limit(args.connections + 1000)
    if limit < args.connections + 200:
        say(f"note: the file descriptor limit is {limit}; holding fewer connections")
        args.connections = limit - 200
    installed, note = benchlib.ensure_mail_packages()
    if note:
        say(f"note: {note}")
    work = benchlib.workdir("memory")
    ports = benchlib.free_ports(4)
    results, notes = {}, []
    try:
        srv = benchlib.PosternServer(args.build, benchlib.postern_config(
            [("smtp-proxy", ports[0], "smtp", True, "")]), f"{work}/postern")
        srv.start()
        try:
            results["postern"] = hold(tool, srv, ports[0], args.connections, args.rate, work,
                                      "postern")
        finally:
            srv.stop()
        if not installed:
            notes.append(f"Postfix/Dovecot cannot be installed: {note}")
        else:
            servers = [
                ("Postfix smtpd", args.others, lambda: benchlib.PostfixServer(
                    f"{work}/postfix", ports[1], process_limit=args.others + 50)),
                ("Dovecot default", args.others, lambda: benchlib.DovecotServer(
                    f"{work}/dovecot1", ports[2], performance="default",
                    client_limit=args.others + 50)),
                ("Dovecot high-perf", args.connections, lambda: benchlib.DovecotServer(
                    f"{work}/dovecot2", ports[3], performance="high",
                    client_limit=args.connections + 100)),
            ]
            for label, count, make in servers:
                if count <= 0:
                    continue  # --others 0: postern alone
                server = make()
                try:
                    server.start()
                except Exception as exc:  # noqa: BLE001 - say why, go on
                    notes.append(f"{label} cannot be started: {exc}")
                    continue
                try:
                    results[label] = hold(tool, server, server.port, count, args.rate, work,
                                          label.replace(" ", "-"))
                finally:
                    server.stop()
    finally:
        benchlib.cleanup(work)
    report(results, notes)
    return 0


def report(results, notes):
    say("Memory of idle proxied connections (PROXY v2 header, greeting, silence); growth of "
        "summed Rss/Pss over the server's processes")
    say(f"  {'server':<20}{'held':>8}{'procs':>7}{'Rss growth':>13}{'Pss growth':>13}"
        f"{'Pss/conn':>11}{'Rss/conn':>11}")
    for label, r in results.items():
        n = r["greeted"] or r["count"]
        say(f"  {label:<20}{r['greeted']:>8}{r['procs']:>7}{r['rss'] / 1024:>10.1f} MiB"
            f"{r['pss'] / 1024:>10.1f} MiB{r['pss'] / n:>8.2f} KiB{r['rss'] / n:>8.2f} KiB")
    p = results.get("postern")
    if p:
        say(f"  postern: {p['pss'] / max(1, p['greeted']):.2f} KiB per connection (target < 8 KiB),"
            f" baseline Rss {p['rss_base'] / 1024:.1f} MiB, {p['fds']} descriptors while held")
        for label, r in results.items():
            if label != "postern" and r["greeted"]:
                per = r["pss"] / r["greeted"]
                say(f"  {label} uses {per / max(0.001, p['pss'] / max(1, p['greeted'])):.0f}x "
                    f"postern's memory per connection")
    for label, r in results.items():
        if not r["all_held"] or r["errors"]:
            say(f"  {label}: not every connection was held: greeted {r['greeted']} of "
                f"{r['count']}, errors {r['errors']} {r['stderr']}")
    for text in notes:
        say(f"  {text}")
    if p:
        say(f"  command (postern): {p['cmd']}")


if __name__ == "__main__":
    sys.exit(main())
