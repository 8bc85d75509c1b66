#!/usr/bin/python3
"""Runs every libFuzzer target in a build directory for a bounded time.

Each target starts from its seed corpus (tests/fuzz/corpus/<name-without-fuzz_>/, if present) in a
scratch copy, so the committed corpus is never modified. Prints one line per target and a final
'N passed, N failed' line; exit status 1 if any target crashed.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build-fuzz")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    targets = sorted(f for f in os.listdir(args.build) if f.startswith("fuzz_")
                     and os.access(os.path.join(args.build, f), os.X_OK))
    passed = failed = 0
    for target in targets:
        seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", target[len("fuzz_"):])
        with tempfile.TemporaryDirectory() as work:
            corpus = os.path.join(work, "corpus")
            if os.path.isdir(seeds):
                shutil.copytree(seeds, corpus)
            else:
                os.mkdir(corpus)
            cmd = [os.path.join(os.path.abspath(args.build), target),
                   f"-max_total_time={args.seconds}", "-timeout=10", "-rss_limit_mb=2048",
                   f"-artifact_prefix={work}/", "-print_final_stats=1", corpus]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work,
                                  timeout=args.seconds + 120)
            runs = next((l.split()[-1] for l in proc.stderr.splitlines()
                         if l.startswith("stat::number_of_executed_units")), "?")
            if proc.returncode == 0:
                passed += 1
                print(f"fuzz {target}: ok, {runs} runs in {args.seconds}s")
            else:
                failed += 1
                print(f"fuzz {target}: FAILED (exit {proc.returncode})")
                print(proc.stderr[-6000:])
                for name in os.listdir(work):
                    if name.startswith(("crash-", "leak-", "timeout-", "oom-")):
                        dest = os.path.join(ROOT, name)
                        shutil.copy(os.path.join(work, name), dest)
                        print(f"  reproducer saved as {dest}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
