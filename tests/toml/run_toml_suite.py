#!/usr/bin/python3
"""Runs the official toml-test suite (TOML 1.0.0 files) against a decoder.

    run_toml_suite.py --decoder build/tools/toml-decode [--suite /path/to/toml-test]

Every path listed in tests/files-toml-1.0.0 of the suite is a test:
  valid/*.toml    the decoder must exit 0 and print JSON equal to the matching .json
  invalid/*.toml  the decoder must exit 1 with a message on stderr
A crash, a signal, a sanitizer report or a timeout always fails. Values are compared the way
toml-test does: floats by value (any NaN equals any NaN, 0 equals -0), date-times by the instant
or wall-clock time they denote, everything else as exact text.

Prints one line per failure, then 'N passed, N failed'; exits 1 if anything failed.
"""
import argparse
import concurrent.futures
import json
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_SUITE = os.path.join(os.path.dirname(ROOT), "shared", "toml-test")
FILE_LIST = os.path.join("tests", "files-toml-1.0.0")
TIMEOUT = 5.0
# Distinct exit codes so a sanitizer abort can never pass for a rejected document (exit 1).
SANITIZER_EXIT = 86
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


class Mismatch(Exception):
    pass


# ---- comparison -------------------------------------------------------------------------

DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?$")
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
TIME_RE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$")


def nanoseconds(fraction):
    return int((fraction or "").ljust(9, "0")[:9])


def days_from_civil(y, m, d):
    """Days since 1970-01-01 in the proleptic Gregorian calendar (valid for year 1 too)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def datetime_key(kind, text):
    """What makes two date-time texts of the given toml-test type equal."""
    if kind == "date-local":
        m = DATE_RE.match(text)
        return m and tuple(int(g) for g in m.groups())
    if kind == "time-local":
        m = TIME_RE.match(text)
        return m and (int(m[1]), int(m[2]), int(m[3]), nanoseconds(m[4]))
    m = DATETIME_RE.match(text)
    if not m or (kind == "datetime") != (m[8] is not None):
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    ns = nanoseconds(m[7])
    if kind == "datetime-local":
        return (y, mo, d, h, mi, s, ns)
    offset = 0
    if m[8] not in ("Z", "z"):
        sign = -1 if m[8][0] == "-" else 1
        offset = sign * (int(m[8][1:3]) * 60 + int(m[8][4:6]))
    seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset * 60
    return (seconds, ns)


def parse_float(text):
    try:
        return float(text)
    except ValueError:
        return None


def compare_scalar(path, want, have):
    kind = want["type"]
    if have["type"] != kind:
        raise Mismatch(f"{path}: type {have['type']!r}, expected {kind!r}")
    w, h = want["value"], have["value"]
    if kind == "float":
        wf, hf = parse_float(w), parse_float(h)
        same = wf is not None and hf is not None and (
            (math.isnan(wf) and math.isnan(hf)) or wf == hf)
    elif kind in ("datetime", "datetime-local", "date-local", "time-local"):
        wk = datetime_key(kind, w)
        same = wk is not None and wk == datetime_key(kind, h)
    else:
        same = w == h
    if not same:
        raise Mismatch(f"{path}: value {h!r}, expected {w!r}")


def is_tagged(value):
    return (isinstance(value, dict) and len(value) == 2 and isinstance(value.get("type"), str)
            and isinstance(value.get("value"), str))


def compare(path, want, have):
    if is_tagged(want):
        if not is_tagged(have):
            raise Mismatch(f"{path or '(root)'}: got {json.dumps(have)[:80]}, expected a value")
        compare_scalar(path, want, have)
    elif isinstance(want, dict):
        if not isinstance(have, dict) or is_tagged(have):
            raise Mismatch(f"{path or '(root)'}: got {json.dumps(have)[:80]}, expected a table")
        if set(want) != set(have):
            missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
            raise Mismatch(f"{path or '(root)'}: keys missing {missing}, unexpected {extra}")
        for key in want:
            compare(f"{path}.{key}" if path else key, want[key], have[key])
    elif isinstance(want, list):
        if not isinstance(have, list):
            raise Mismatch(f"{path}: got {json.dumps(have)[:80]}, expected an array")
        if len(want) != len(have):
            raise Mismatch(f"{path}: {len(have)} items, expected {len(want)}")
        for i, (w, h) in enumerate(zip(want, have)):
            compare(f"{path}[{i}]", w, h)
    else:
        raise Mismatch(f"{path}: unexpected {json.dumps(want)[:80]} in the expected output")


# ---- running ----------------------------------------------------------------------------

def sanitizer_env():
    env = dict(os.environ)
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        ours = f"exitcode={SANITIZER_EXIT}"
        env[name] = f"{env[name]}:{ours}" if env.get(name) else ours
    return env


def run_decoder(decoder, document, env):
    """(exit status or None on timeout, stdout, stderr)."""
    try:
        proc = subprocess.run([decoder], input=document, capture_output=True, timeout=TIMEOUT,
                              env=env)
    except subprocess.TimeoutExpired:
        return None, b"", b""
    return proc.returncode, proc.stdout, proc.stderr


def abnormal_exit(code, stderr):
    """Why the run counts as a crash, or None."""
    if code is None:
        return f"timed out after {TIMEOUT:g} s"
    if code < 0:
        return f"killed by signal {-code}"
    text = stderr.decode("utf-8", "replace")
    if code == SANITIZER_EXIT or any(marker in text for marker in SANITIZER_MARKERS):
        first = next((line for line in text.splitlines() if "Sanitizer" in line
                      or "runtime error" in line), text.strip()[:200])
        return f"sanitizer report: {first}"
    if code not in (0, 1):
        return f"exit status {code}"
    return None


def check_valid(decoder, suite, name, env):
    base = os.path.join(suite, "tests", name)
    with open(base, "rb") as f:
        document = f.read()
    with open(base[:-len(".toml")] + ".json", encoding="utf-8") as f:
        expected = json.load(f)
    code, out, err = run_decoder(decoder, document, env)
    problem = abnormal_exit(code, err)
    if problem:
        return problem
    if code != 0:
        return f"rejected: {err.decode('utf-8', 'replace').strip()[:200]}"
    try:
        have = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"output is not JSON: {exc}"
    try:
        compare("", expected, have)
    except Mismatch as exc:
        return str(exc)
    return None


def check_invalid(decoder, suite, name, env):
    with open(os.path.join(suite, "tests", name), "rb") as f:
        document = f.read()
    code, _, err = run_decoder(decoder, document, env)
    problem = abnormal_exit(code, err)
    if problem:
        return problem
    if code != 1:
        return "accepted an invalid document"
    if not err.strip():
        return "exit status 1 but nothing on stderr"
    return None


def check(decoder, suite, name, env):
    """None if the test passed, else why it failed."""
    try:
        if name.startswith("valid/"):
            return check_valid(decoder, suite, name, env)
        return check_invalid(decoder, suite, name, env)
    except (OSError, ValueError) as exc:  # a missing suite file, a decoder that cannot start
        return f"cannot run: {exc}"


def list_tests(suite):
    with open(os.path.join(suite, FILE_LIST), encoding="utf-8") as f:
        names = [line.strip() for line in f]
    return [n for n in names if n.endswith(".toml") and n.startswith(("valid/", "invalid/"))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", required=True, help="the toml-test decoder to run")
    parser.add_argument("--suite", default=DEFAULT_SUITE,
                        help="toml-test checkout (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    decoder = os.path.abspath(args.decoder)
    if not os.access(decoder, os.X_OK):
        print(f"decoder {args.decoder} is not an executable file")
        print("0 passed, 1 failed")
        return 1
    try:
        names = list_tests(args.suite)
    except OSError as exc:
        print(f"cannot read the suite: {exc}")
        print("0 passed, 1 failed")
        return 1

    env = sanitizer_env()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda n: check(decoder, args.suite, n, env), names))
    failed = 0
    for name, problem in zip(names, results):
        if problem:
            failed += 1
            print(f"FAIL {name}: {problem}")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
