#!/usr/bin/python3
"""Runs every benchmark binary in BUILD/bench and prints its figures.

Benchmarks print their own baselines, measured in the same run; nothing here asserts timings.
"""
import argparse
import os
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build-bench")
    args = parser.parse_args()
    bench_dir = os.path.join(args.build, "bench")
    status = 0
    for name in sorted(os.listdir(bench_dir)):
        path = os.path.join(bench_dir, name)
        if not name.startswith("bench_") or not os.access(path, os.X_OK) or name.endswith(".d"):
            continue
        print(f"== {name}")
        sys.stdout.flush()
        status |= subprocess.run([path]).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
