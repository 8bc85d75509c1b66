#!/usr/bin/python3
"""Soak test (`make soak`): 10 000 concurrent proxied connections plus churn, for a bounded
time, then checks that postern gives every resource back.

Each round:
  1. hold --connections idle proxied connections (PROXY v2, greeting, silence)
  2. churn for --seconds on top of them: greet sessions, SMTP deliveries, garbage openings
     (random bytes, cut and broken headers), all within server.max-connections: no errors
  3. a burst past server.max-connections: every refused connection must be one postern logged
     as connection_limit (no errors beyond the configured limit)
  4. release everything; postern's descriptors (/proc/PID/fd) must return to the baseline, and
     its resident memory must not grow from round to round (a leak); whether it comes back to
     the baseline is printed, and checked with --strict-rss (glibc keeps freed memory)
Exit status 0 when every check holds; the figures are printed either way.

    bench/soak.py --build build-bench [--connections 10000] [--seconds 60] [--rounds 2]
"""
import argparse
import os
import signal
import sys
import time

import benchlib
from benchlib import HOST, say

CHURN_CONNECTIONS = 80       # greet 50 + smtp 20 + garbage 10, on top of the held ones
BURST = 400                  # connections tried past the limit
RSS_SLACK_KIB = 16 * 1024    # allocator slack allowed over the baseline after a round


def settle(pid, baseline_fds, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if benchlib.fd_count(pid) <= baseline_fds:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    return benchlib.fd_count(pid), benchlib.memory([pid])[0]


def churn(tool, ports, seconds, work, tag):
    """Three generators at once for `seconds`; returns their summaries."""
    common = ["-d", seconds, "--timeout", 10, "--proxy-src-range", "198.51.100.0/24"]
    jobs = {
        "greet": ["-s", "greet", "-c", 50, "--rate", 1500, "--proxy", "v2",
                  "--source", "127.0.11.1-127.0.11.250", f"{HOST}:{ports[0]}"],
        "smtp": ["-s", "smtp", "-c", 20, "--rate", 300, "--proxy", "v2", "--to",
                 benchlib.ADDRESS, "--size", 2048, "--source", "127.0.12.1-127.0.12.250",
                 f"{HOST}:{ports[0]}"],
        "garbage": ["-s", "garbage", "-c", 10, "--rate", 300, "--source",
                    "127.0.13.1-127.0.13.250", f"{HOST}:{ports[0]}"],
    }
    procs = {name: benchlib.start_load(tool, [*common, *args], os.path.join(
        work, f"{tag}-{name}.json")) for name, args in jobs.items()}
    results = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=seconds + 120)
        with open(os.path.join(work, f"{tag}-{name}.json")) as f:
            results[name] = benchlib.json.loads(f.read().strip().splitlines()[-1])
    return results


def one_round(tool, srv, ports, args, work, number, problems, base_fds):
    pid = srv.proc.pid
    say(f"round {number}: holding {args.connections} idle proxied connections ...")
    ready = os.path.join(work, f"ready{number}")
    idle_out = os.path.join(work, f"idle{number}.json")
    hold_for = args.connections / args.rate + args.seconds + 120
    idle = benchlib.start_load(tool, [
        "-s", "idle", "-c", args.connections, "--hold", int(hold_for), "--rate", args.rate,
        "--proxy", "v2", "--source", "127.0.10.1-127.0.10.250", "--ready-file", ready,
        "--proxy-src-range", "198.51.100.0/24", "--timeout", 30, f"{HOST}:{ports[0]}"],
        idle_out)
    try:
        deadline = time.monotonic() + args.connections / args.rate + 60
        while not os.path.exists(ready) and time.monotonic() < deadline and idle.poll() is None:
            time.sleep(0.2)
        if not os.path.exists(ready):
            problems.append(f"round {number}: the idle connections were not all greeted")
        held_fds, held_rss = benchlib.fd_count(pid), benchlib.memory([pid])[0]
        say(f"  held: {held_fds} descriptors, Rss {held_rss / 1024:.1f} MiB; churning for "
            f"{args.seconds:g}s ...")
        results = churn(tool, ports, args.seconds, work, f"r{number}")
        for name, r in results.items():
            say(f"  churn {name:<8} {r['sessions']['ok']:>8} sessions ok "
                f"({r['sessions']['per_s']:.0f}/s), {r['messages']['ok']} messages, "
                f"errors {r['errors'] or 'none'}")
            if r["errors_total"]:
                problems.append(f"round {number}: churn {name} had errors {r['errors']}")
        before = len(srv.events("connection_limit"))
        burst = benchlib.run_load(tool, [
            "-s", "idle", "-c", BURST, "--hold", 3, "--proxy", "v2", "--timeout", 10,
            "--source", "127.0.14.1-127.0.14.250", f"{HOST}:{ports[0]}"])
        time.sleep(0.5)
        refused = len(srv.events("connection_limit")) - before
        failed = burst["sessions"]["failed"]
        say(f"  burst past max-connections: {burst['held']} held, {failed} refused by the "
            f"server, {refused} connection_limit log lines")
        if failed != refused or failed == 0:
            problems.append(f"round {number}: burst failures {burst['errors']} do not match "
                            f"{refused} connection_limit events")
    finally:
        idle.send_signal(signal.SIGTERM)
        idle.communicate(timeout=120)
    if srv.proc.poll() is not None:
        problems.append(f"round {number}: postern exited ({srv.proc.returncode})")
        return None
    return settle(pid, base_fds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build-bench")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=2500, help="new idle connections per second")
    parser.add_argument("--strict-rss", action="store_true",
                        help="fail when Rss does not come back within 16 MiB of the baseline "
                             "(by default only growth from round to round fails)")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.build, "postern")):
        benchlib.build_target(args.build, "postern")
    tool = benchlib.postern_load(args.build)
    limit = benchlib.raise_fd_limit(args.connections + 2000)
    if limit < args.connections + 1000:
        say(f"the file descriptor limit is {limit}: cannot hold {args.connections} connections")
        return 2
    work = benchlib.workdir("soak")
    ports = benchlib.free_ports(1)
    max_conn = args.connections + CHURN_CONNECTIONS + 100
    config = benchlib.postern_config([("smtp-proxy", ports[0], "smtp", True, "")],
                                     max_connections=max_conn)
    srv = benchlib.PosternServer(args.build, config, f"{work}/postern", log_level="info")
    problems, notes = [], []
    try:
        srv.start()
        pid = srv.proc.pid
        # Warm-up: allocate what a first session allocates, then take the baseline.
        churn(tool, ports, 3, work, "warm")
        base_fds, base_rss = settle(pid, 10**9, timeout=0)
        say(f"soak: postern {args.build}/postern, max-connections {max_conn}, "
            f"{args.connections} idle + churn, {args.seconds:g}s x {args.rounds} rounds")
        say(f"baseline after warm-up: {base_fds} descriptors, Rss {base_rss / 1024:.1f} MiB")
        after = []
        for number in range(1, args.rounds + 1):
            fds, rss = one_round(tool, srv, ports, args, work, number, problems,
                                 base_fds) or (-1, 0)
            after.append(rss)
            say(f"  after round {number}: {fds} descriptors (baseline {base_fds}), Rss "
                f"{rss / 1024:.1f} MiB (baseline {base_rss / 1024:.1f} MiB)")
            if fds != base_fds:
                problems.append(f"round {number}: {fds} descriptors, baseline {base_fds}")
            if rss > base_rss + RSS_SLACK_KIB:
                text = (f"round {number}: Rss {rss / 1024:.1f} MiB stays above the baseline "
                        f"{base_rss / 1024:.1f} MiB (memory kept by the allocator)")
                (problems if args.strict_rss else notes).append(text)
        growth_slack = max(4096, (after[0] - base_rss) // 10) if after else 0
        if len(after) > 1 and max(after[1:]) > after[0] + growth_slack:
            problems.append(f"Rss grows from round to round: {after} KiB")
    finally:
        status = srv.stop()
        if status not in (0, None):
            problems.append(f"postern exited with status {status} on SIGTERM")
        if problems:
            say(f"postern log: {srv.log_path}")
        else:
            benchlib.cleanup(work)
    for text in notes:
        say(f"note: {text}")
    for text in problems:
        say(f"PROBLEM: {text}")
    say("soak: " + ("passed" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
