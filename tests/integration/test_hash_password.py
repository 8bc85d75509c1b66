"""postern hash-password: reads a password from stdin and prints a crypt(3) hash that libcrypt
(through Python's crypt module) or OpenSSL verifies, and that `postern check` accepts as an
account's secret; a password in clear in the configuration is refused with a pointer to it."""
import re
import subprocess
import warnings

import pytest

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated since 3.11, still present in Debian 12's Python
except ImportError:
    crypt = None

SCHEMES = {
    "yescrypt": r"^\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]+\$[./0-9A-Za-z]{43}$",
    "sha512": r"^\$6\$rounds=100000\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$",
    "bcrypt": r"^\$2b\$10\$[./0-9A-Za-z]{53}$",
}
SMTP = '[server.listener.smtp]\nbind = "127.0.0.1:2525"\nprotocol = "smtp"\n'


def hash_password(run_postern, password, *args):
    proc = run_postern("hash-password", *args, input=password)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def verifies(hashed, password):
    """True when libcrypt (or, for SHA-512 without the crypt module, OpenSSL) agrees."""
    if crypt is not None:
        return crypt.crypt(password, hashed) == hashed
    if not hashed.startswith("$6$"):
        pytest.skip("no crypt module to verify this scheme with")
    salt = hashed[len("$6$"):hashed.rindex("$")]
    proc = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
                          input=password.encode(), capture_output=True, check=True)
    return proc.stdout.decode().strip() == hashed


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_each_scheme_verifies(run_postern, scheme):
    code, out, err = hash_password(run_postern, b"correct horse\n", "--scheme", scheme)
    assert code == 0, err
    assert err == ""
    hashed = out.rstrip("\n")
    assert out == hashed + "\n"
    assert re.match(SCHEMES[scheme], hashed), hashed
    assert verifies(hashed, "correct horse")
    assert not verifies(hashed, "correct horsE")


@pytest.mark.requires("openssl")
def test_sha512_matches_openssl(run_postern):
    code, out, err = hash_password(run_postern, b"s3cret\n", "--scheme", "sha512")
    assert code == 0, err
    hashed = out.strip()
    salt = hashed[len("$6$"):hashed.rindex("$")]
    proc = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
                          input=b"s3cret\n", capture_output=True, check=True)
    assert proc.stdout.decode().strip() == hashed


def test_default_is_yescrypt_and_salted(run_postern):
    first = hash_password(run_postern, b"pw\n")
    second = hash_password(run_postern, b"pw\n", "--password-stdin")
    assert first[0] == second[0] == 0
    assert first[1].startswith("$y$") and second[1].startswith("$y$")
    assert first[1] != second[1]  # a fresh salt each time
    assert verifies(first[1].strip(), "pw") and verifies(second[1].strip(), "pw")


def test_line_handling(run_postern):
    # Only the line ending goes: spaces and inner characters are part of the password.
    for given, meant in [(b" pass word \r\n", " pass word "), (b"no-newline", "no-newline"),
                         (b"first\nsecond\n", "first"), ("pässwörd\n".encode(), "pässwörd")]:
        code, out, err = hash_password(run_postern, given, "--scheme", "sha512")
        assert code == 0, err
        assert verifies(out.strip(), meant), given


def test_refusals(run_postern):
    assert hash_password(run_postern, b"")[:1] == (1,)
    code, out, err = hash_password(run_postern, b"")
    assert out == "" and "no password on stdin" in err
    code, out, err = hash_password(run_postern, b"\n")
    assert code == 1 and out == "" and "the password is empty" in err
    code, out, err = hash_password(run_postern, b"x" * 512 + b"\n")
    assert code == 1 and out == "" and "longer than 511 bytes" in err
    code, out, err = hash_password(run_postern, b"x" * 511 + b"\n")
    assert code == 0 and verifies(out.strip(), "x" * 511)


def test_bcrypt_long_password_warns(run_postern):
    code, out, err = hash_password(run_postern, b"y" * 80 + b"\n", "--scheme", "bcrypt")
    assert code == 0
    assert "bcrypt uses only the first 72 bytes" in err


def test_usage(run_postern):
    code, out, err = hash_password(run_postern, b"pw\n", "--scheme", "md5")
    assert code == 64 and "unknown scheme 'md5'" in err
    code, out, err = hash_password(run_postern, b"pw\n", "hunter2")
    assert code == 64 and "never from the command line" in err
    assert hash_password(run_postern, b"", "--bogus")[0] == 64
    code, out, err = hash_password(run_postern, b"", "--help")
    assert code == 0 and "usage: postern hash-password" in out
    assert b"hash-password" in run_postern("help").stdout


def test_hash_goes_into_the_config(run_postern, workdir):
    code, out, err = hash_password(run_postern, b"pw\n")
    assert code == 0, err
    path = workdir / "postern.toml"
    path.write_text(SMTP + '[[directory.accounts]]\nname = "alice"\n'
                    f'secret = "{out.strip()}"\nemail = ["alice@example.org"]\n')
    proc = run_postern("check", "--config", path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    lines = proc.stdout.decode().splitlines()
    assert "directory: 1 account" in lines
    assert "account alice: secret yescrypt; email alice@example.org" in lines


def test_plain_secret_points_to_hash_password(run_postern, workdir):
    path = workdir / "postern.toml"
    path.write_text(SMTP + '[[directory.accounts]]\nname = "alice"\n'
                    'secret = "Tr0ub4dor&3"\nemail = "alice@example.org"\n')
    proc = run_postern("check", "--config", path)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert (f"error: {path}:6: directory.accounts[0].secret: the value is not a password hash"
            in err), err
    assert "postern hash-password" in err
    assert "Tr0ub4dor&3" not in err
