#!/usr/bin/python3
"""PROXY handshake cost: connect + PROXY v2 header + greeting + QUIT on a proxied listener,
against connect + greeting + QUIT on a plain listener of the same postern process.

Proxies connect from 127.0.3.0/24 and plain clients from 127.0.2.0/24, which no listener
trusts: a trusted address is exempt from per-client accounting, and a plain client that skipped it
would make the header look dearer than it is.

The two kinds of run alternate (plain, proxied, plain, ...) so that drift on a shared machine
hits both; the figure is the median of the rounds. Printed: sessions per second, server CPU
per session (from /proc/PID/task/*/schedstat, in nanoseconds), greeting latency, and the
overhead of the header.
Target: overhead under 3%. Nothing is asserted.
"""
import argparse
import os
import statistics
import sys

import benchlib
from benchlib import HOST, say


PROXY_SOURCES, PROXY_NETWORK = "127.0.3.1-127.0.3.200", "127.0.3.0/24"
CLIENT_SOURCES = "127.0.2.1-127.0.2.200"


def measure(tool, pids, port, proxy, seconds, concurrency, rate=0):
    cpu0 = benchlib.thread_cpu_seconds(pids)
    sources = CLIENT_SOURCES if proxy == "none" else PROXY_SOURCES
    args = ["-s", "greet", "-c", concurrency, "-d", seconds, "--proxy", proxy,
            "--source", sources, f"{HOST}:{port}"]
    if rate:
        args[:0] = ["--rate", rate]
    result = benchlib.run_load(tool, args)
    cpu = benchlib.thread_cpu_seconds(pids) - cpu0
    ok = result["sessions"]["ok"]
    return {"rate": result["sessions"]["per_s"], "cpu_us": cpu / ok * 1e6 if ok else 0,
            "p50": result["latency_ms"].get("greeting", {}).get("p50", 0),
            "p99": result["latency_ms"].get("greeting", {}).get("p99", 0),
            "errors": result["errors_total"], "cmd": " ".join(map(str, result["argv"]))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build-bench")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=int, default=0,
                        help="sessions per second (default: as fast as the server goes)")
    args = parser.parse_args()
    tool = benchlib.postern_load(args.build)
    work = benchlib.workdir("handshake")
    plain, proxied, deferred = benchlib.free_ports(3)
    config = benchlib.postern_config([
        ("plain", plain, "smtp", False, ""), ("proxied", proxied, "smtp", PROXY_NETWORK, ""),
        ("deferred", deferred, "smtp", PROXY_NETWORK, "proxy.defer-accept = true")],
        accounts=False)
    srv = benchlib.PosternServer(args.build, config, work)
    try:
        srv.start()
        measure(tool, srv.pids, plain, "none", 1, args.concurrency)  # warm-up
        runs = {"none": [], "v2": [], "v2-deferred": []}
        for _ in range(args.rounds):
            for key, proxy, port in (("none", "none", plain), ("v2", "v2", proxied),
                                     ("v2-deferred", "v2", deferred)):
                runs[key].append(measure(tool, srv.pids, port, proxy, args.seconds,
                                         args.concurrency, args.rate))
    finally:
        status = srv.stop()
        benchlib.cleanup(work)
    med = {k: {f: statistics.median(r[f] for r in v) for f in ("rate", "cpu_us", "p50", "p99")}
           for k, v in runs.items()}
    say(f"PROXY handshake: greet scenario (connect, [v2 header], 220, QUIT, 221, close), "
        f"{args.concurrency} connections at once"
        f"{f', {args.rate}/s' if args.rate else ''}, {args.rounds} alternating rounds of "
        f"{args.seconds:g}s, postern {args.build}/postern (workers = cores); medians")
    say(f"  {'listener':<22}{'sessions/s':>12}{'server CPU/session':>20}"
        f"{'greeting p50':>14}{'p99':>9}")
    for name, key in (("plain (no header)", "none"), ("proxied (PROXY v2)", "v2"),
                      ("proxied, defer-accept", "v2-deferred")):
        m = med[key]
        say(f"  {name:<22}{benchlib.fmt_rate(m['rate']):>12}{m['cpu_us']:>17.1f} us"
            f"{m['p50']:>11.3f} ms{m['p99']:>7.3f} ms")
    for label, key in (("", "v2"), (" with proxy.defer-accept", "v2-deferred")):
        rate_overhead = (med["none"]["rate"] / med[key]["rate"] - 1) * 100
        cpu_overhead = (med[key]["cpu_us"] / med["none"]["cpu_us"] - 1) * 100
        say(f"  overhead of the header{label}: {rate_overhead:+.1f}% time per session "
            f"(throughput), {cpu_overhead:+.1f}% server CPU per session (target < 3%)")
    errors = sum(r["errors"] for v in runs.values() for r in v)
    if errors:
        say(f"  errors during the runs: {errors}")
    say(f"  command: {runs['v2'][-1]['cmd']}")
    return 1 if status not in (0, None) else 0


if __name__ == "__main__":
    sys.exit(main())
