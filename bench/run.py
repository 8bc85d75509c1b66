#!/usr/bin/python3
"""Runs every benchmark: the binaries in BUILD/bench, then the load scripts bench/bench_*.py.

Benchmarks print their own baselines or comparisons, measured in the same run; nothing here
asserts timings. The load scripts (PROXY handshake cost, SMTP vs Postfix, IMAP vs Dovecot,
memory per idle connection) use BUILD/postern and BUILD/tools/postern-load (built here when
missing), run everything on loopback and stop by themselves.

    bench/run.py --build build-bench [--only NAME ...] [--quick]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Each script gets --build; --quick adds these shorter settings.
SCRIPTS = {
    "bench_handshake.py": ["--rounds", "3", "--seconds", "2"],
    "bench_smtp.py": ["--seconds", "3"],
    "bench_imap.py": ["--seconds", "3"],
    "bench_memory.py": ["--connections", "2000", "--others", "200"],
}
SCRIPT_TIMEOUT = 1800


def selected(name, only):
    return not only or any(o in name for o in only)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build-bench")
    parser.add_argument("--only", action="append", help="run benchmarks whose name has this")
    parser.add_argument("--quick", action="store_true", help="shorter load runs")
    args = parser.parse_args()
    bench_dir = os.path.join(args.build, "bench")
    status = 0
    names = sorted(os.listdir(bench_dir)) if os.path.isdir(bench_dir) else []
    for name in names:
        path = os.path.join(bench_dir, name)
        if (not name.startswith("bench_") or not os.access(path, os.X_OK) or name.endswith(".d")
                or not selected(name, args.only)):
            continue
        print(f"== {name}", flush=True)
        status |= subprocess.run([path]).returncode
    for script, quick in SCRIPTS.items():
        if not selected(script, args.only):
            continue
        print(f"\n== {script}", flush=True)
        started = time.monotonic()
        argv = [sys.executable, os.path.join(HERE, script), "--build", args.build]
        if args.quick:
            argv += quick
        try:
            code = subprocess.run(argv, timeout=SCRIPT_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            print(f"{script}: did not finish within {SCRIPT_TIMEOUT}s", flush=True)
            code = 1
        print(f"({script}: {time.monotonic() - started:.0f}s)", flush=True)
        status |= code
    return status


if __name__ == "__main__":
    sys.exit(main())
