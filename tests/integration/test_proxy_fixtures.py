"""`postern proxy decode` against PROXY headers captured from real HAProxy and nginx.

The fixtures live in tests/fixtures/proxy (see its README.md; regenerate with `make fixtures`).
Each <name>.bin is a header followed by the client's first payload; <name>.json says what the
header decodes to:
    expect   fields that must be in the decode output, with these values (`length` included;
             `tlvs` is every top-level TLV in wire order, [] when there are none)
    absent   optional output keys that must not appear
    undetermined   (rare) output keys deliberately not checked; `note` says why
    header_hex, payload_hex   the .bin split where the header ends

CLI contract: `postern proxy decode [--hex] [FILE]` reads raw bytes (or hex text with --hex) from
FILE or stdin, prints one JSON object, exits 0 valid, 1 invalid (reason on stderr), 2 incomplete;
bytes after the header are ignored.
"""
import glob
import json
import os

import pytest

import peers

FIXTURE_DIR = os.path.join(peers.repo_root(), "tests", "fixtures", "proxy")

# What tests/fixtures/capture.py produces; a missing one means the capture was not committed.
EXPECTED_FIXTURES = [
    "haproxy-v1-tcp4", "haproxy-v1-tcp6", "haproxy-v2-tcp4", "haproxy-v2-tcp6",
    "haproxy-v2-ssl", "haproxy-v2-ssl-nocert",
    "haproxy-v2-check-local", "haproxy-v2-check-local-crc32c", "haproxy-v1-check",
    "haproxy-v2-check-pp2-never-send-local",
    "nginx-v1-tcp4", "nginx-v1-tcp6-mapped", "nginx-v1-tcp6",
]

NAMES = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(FIXTURE_DIR, "*.json")))
HEX_KEYS = ("unique_id",)
HEX_SSL_KEYS = ("client_cert",)


def load(name):
    with open(os.path.join(FIXTURE_DIR, name + ".json")) as f:
        doc = json.load(f)
    with open(os.path.join(FIXTURE_DIR, name + ".bin"), "rb") as f:
        data = f.read()
    return doc, data


def normalize(out):
    """Lower-cases hex values so that the CLI may print either case."""
    out = dict(out)
    for key in HEX_KEYS:
        if isinstance(out.get(key), str):
            out[key] = out[key].lower()
    if isinstance(out.get("ssl"), dict):
        out["ssl"] = dict(out["ssl"])
        for key in HEX_SSL_KEYS:
            if isinstance(out["ssl"].get(key), str):
                out["ssl"][key] = out["ssl"][key].lower()
    if isinstance(out.get("tlvs"), list):
        out["tlvs"] = [dict(t, hex=t["hex"].lower()) if isinstance(t, dict)
                       and isinstance(t.get("hex"), str) else t for t in out["tlvs"]]
    return out


def decode(run_postern, tmp_path, data, mode):
    """Runs `postern proxy decode` on data in one of the input modes; returns the process."""
    if mode == "file":
        path = tmp_path / "in.bin"
        path.write_bytes(data)
        return run_postern("proxy", "decode", path)
    if mode == "stdin":
        return run_postern("proxy", "decode", input=data)
    if mode == "hex-file":
        path = tmp_path / "in.hex"
        path.write_text(data.hex() + "\n")
        return run_postern("proxy", "decode", "--hex", path)
    if mode == "hex-stdin":
        return run_postern("proxy", "decode", "--hex", input=(data.hex() + "\n").encode())
    raise ValueError(mode)


def parse_output(proc):
    text = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, (f"exit {proc.returncode}, stdout {text!r}, "
                                  f"stderr {proc.stderr.decode(errors='replace')!r}")
    try:
        out = json.loads(text)
    except ValueError as exc:
        pytest.fail(f"stdout is not one JSON object ({exc}): {text!r}")
    assert isinstance(out, dict), text
    return out


def check_decode(out, doc, data):
    expect = doc["expect"]
    out = normalize(out)
    header_len = len(data) - len(bytes.fromhex(doc["payload_hex"]))
    assert out.get("length") == header_len == expect["length"]
    for key, value in expect.items():
        if key == "tlvs":
            assert out.get("tlvs", []) == value, "tlvs (every TLV in wire order)"
        else:
            assert key in out, f"{key} missing from {out}"
            assert out[key] == value, f"{key}: {out[key]!r} != expected {value!r}"
    for key in doc["absent"]:
        assert key not in out, f"{key} should be absent, got {out[key]!r}"


def test_fixture_set_complete():
    missing = [n for n in EXPECTED_FIXTURES if n not in NAMES]
    assert not missing, f"fixtures missing from {FIXTURE_DIR} (run `make fixtures`): {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_consistent(name):
    """The .json describes its .bin: header + payload, the payload as sent by the client."""
    doc, data = load(name)
    header = bytes.fromhex(doc["header_hex"])
    payload = bytes.fromhex(doc["payload_hex"])
    assert data == header + payload
    assert len(header) == doc["expect"]["length"]
    assert payload in (b"EHLO fixture\r\n", b"HEALTH fixture\r\n")
    assert doc["name"] == name
    assert not set(doc["absent"]) & set(doc["expect"])
    assert not set(doc.get("undetermined", [])) & (set(doc["absent"]) | set(doc["expect"]))


@pytest.mark.parametrize("mode", ["file", "stdin", "hex-file", "hex-stdin"])
@pytest.mark.parametrize("name", NAMES)
def test_decode(run_postern, tmp_path, name, mode):
    doc, data = load(name)
    check_decode(parse_output(decode(run_postern, tmp_path, data, mode)), doc, data)


@pytest.mark.parametrize("name", NAMES)
def test_decode_header_only(run_postern, tmp_path, name):
    """Without the payload the header alone still decodes to the same thing."""
    doc, data = load(name)
    header = bytes.fromhex(doc["header_hex"])
    check_decode(parse_output(decode(run_postern, tmp_path, header, "file")),
                 dict(doc, payload_hex=""), header)


@pytest.mark.parametrize("name", NAMES)
def test_decode_truncated_is_incomplete(run_postern, tmp_path, name):
    """Every real header minus its last byte is a valid prefix: exit 2, not 1."""
    doc, _ = load(name)
    header = bytes.fromhex(doc["header_hex"])
    for cut in sorted({1, 8, 15, len(header) // 2, len(header) - 1}):
        if 0 < cut < len(header):
            proc = decode(run_postern, tmp_path, header[:cut], "stdin")
            assert proc.returncode == 2, (
                f"{cut} of {len(header)} bytes: exit {proc.returncode}, "
                f"stdout {proc.stdout!r}, stderr {proc.stderr!r}")


CRC_FIXTURES = [n for n in NAMES if load(n)[0]["expect"].get("crc32c") == "verified"]


@pytest.mark.parametrize("name", CRC_FIXTURES)
def test_decode_crc32c_mismatch_is_invalid(run_postern, tmp_path, name):
    """One flipped bit in a CRC-protected header (its CRC32C value) makes it invalid."""
    doc, data = load(name)
    header = bytearray(bytes.fromhex(doc["header_hex"]))
    crc = next(t for t in doc["expect"]["tlvs"] if t["type"] == 0x03)
    at = bytes(header).find(bytes([0x03, 0x00, 0x04]) + bytes.fromhex(crc["hex"]))
    assert at >= 16
    header[at + 3] ^= 0x01
    proc = decode(run_postern, tmp_path, bytes(header) + data[len(header):], "stdin")
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.strip(), "the reason goes to stderr"
