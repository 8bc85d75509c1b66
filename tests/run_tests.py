#!/usr/bin/python3
"""Runs every postern test suite against one build and prints one total.

Suites:
  unit         each cmocka binary in BUILD/tests (TAP output, one result per test)
  toml         the official toml-test suite through BUILD/tools/toml-decode (if present)
  integration  pytest over tests/integration with POSTERN_BUILD=BUILD

The last line is 'N passed, N failed' (CI reads it); the exit status is 0 only when nothing failed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT_TIMEOUT = 300
TAP_RESULT = re.compile(r"^(not ok|ok) \d+ - (.*)$")


def run_unit(build):
    passed = failed = 0
    tests_dir = os.path.join(build, "tests")
    binaries = sorted(os.listdir(tests_dir)) if os.path.isdir(tests_dir) else []
    for name in binaries:
        path = os.path.join(tests_dir, name)
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP", POSTERN_ROOT=ROOT)
        try:
            proc = subprocess.run([path], env=env, capture_output=True, text=True,
                                  timeout=UNIT_TIMEOUT, cwd=ROOT)
            output, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = (exc.stdout or b"").decode(errors="replace"), "timeout"
        p = f = 0
        for line in output.splitlines():
            m = TAP_RESULT.match(line)
            if m:
                if m.group(1) == "ok":
                    p += 1
                else:
                    f += 1
                    print(f"  FAIL {name}: {m.group(2)}")
        if code != 0 and f == 0:
            f = 1  # crashed or timed out outside any single test
            print(f"  FAIL {name}: exit status {code}")
        if f:
            print(output)
        print(f"unit {name}: {p} passed, {f} failed")
        passed, failed = passed + p, failed + f
    return passed, failed


def run_toml(build):
    decoder = os.path.join(build, "tools", "toml-decode")
    script = os.path.join(ROOT, "tests", "toml", "run_toml_suite.py")
    if not (os.path.exists(decoder) and os.path.exists(script)):
        return 0, 0
    proc = subprocess.run([sys.executable, script, "--decoder", decoder],
                          capture_output=True, text=True)
    sys.stdout.write(proc.stdout[-4000:])
    m = re.search(r"(\d+) passed, (\d+) failed", proc.stdout)
    if not m:
        print(proc.stderr[-4000:])
        return 0, 1
    return int(m.group(1)), int(m.group(2))


def run_integration(build):
    tests = os.path.join(ROOT, "tests", "integration")
    if not any(f.startswith("test_") for f in os.listdir(tests)):
        return 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "junit.xml")
        env = dict(os.environ, POSTERN_BUILD=os.path.abspath(build), POSTERN_ROOT=ROOT)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={report}", tests], env=env, cwd=ROOT)
        if not os.path.exists(report):
            return 0, 1
        root = ET.parse(report).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        total = sum(int(s.get("tests", 0)) for s in suites)
        bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
        print(f"integration: {total - bad - skipped} passed, {bad} failed, {skipped} skipped")
        return total - bad - skipped, bad


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--suite", action="append", choices=["unit", "toml", "integration"])
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    suites = args.suite or ["unit", "toml", "integration"]
    runners = {"unit": run_unit, "toml": run_toml, "integration": run_integration}
    passed = failed = 0
    for suite in suites:
        p, f = runners[suite](build)
        passed, failed = passed + p, failed + f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
