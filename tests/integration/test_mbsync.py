"""mbsync (isync) against postern: an account synced into a local Maildir over IMAPS through
HAProxy TLS passthrough (send-proxy-v2 to an implicit-TLS listener), and back: flags, a moved
message and a deleted message travel both ways.

Certificate check, honestly: postern serves a certificate made for "localhost" (peers.make_cert,
with a subjectAltName), mbsync connects to Host localhost and gets that exact certificate as its
CertificateFile. isync 1.4 treats a CertificateFile entry equal to the server's certificate as
trusted (the mbsync-get-cert workflow), and the name matches as well; nothing is turned off.
"""
import email
import imaplib
import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess

import pytest

from peers import find_program, free_port, postern_binary

HOST = "127.0.0.1"
PASSWORD = "correct horse"

pytestmark = pytest.mark.requires("mbsync", "haproxy", "openssl")


@pytest.fixture(scope="module")
def secret():
    proc = subprocess.run([postern_binary(), "hash-password", "--scheme", "sha512",
                           "--password-stdin"], input=PASSWORD + "\n", capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


class Setup:
    def __init__(self, srv, smtp, front, cert, workdir):
        self.srv, self.smtp, self.front, self.cert = srv, smtp, front, cert
        self.local = os.path.join(str(workdir), "mail")
        self.rc = os.path.join(str(workdir), "mbsyncrc")


@pytest.fixture
def setup(start_postern, start_haproxy, cert_factory, secret, workdir):
    cert = cert_factory("localhost")
    smtp, backend, front = free_port(), free_port(), free_port()
    srv = start_postern(
        f'[server]\nhostname = "localhost"\ndata-dir = "{{data_dir}}"\nworkers = 2\n\n'
        f'[certificate.main]\ncert = "%{{file:{cert.cert}}}%"\n'
        f'private-key = "%{{file:{cert.key}}}%"\n\n'
        f'[server.listener."smtp"]\nbind = "{HOST}:{smtp}"\nprotocol = "smtp"\n\n'
        f'[server.listener."imaps-proxy"]\nbind = "{HOST}:{backend}"\nprotocol = "imap"\n'
        f'tls.implicit = true\n[server.listener."imaps-proxy".proxy]\n'
        f'trusted-networks = ["{HOST}"]\n\n'
        f'[[directory.accounts]]\nname = "alice"\nsecret = "{secret}"\n'
        f'email = {json.dumps(["alice@example.com"])}\n')
    start_haproxy(f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen imaps
    bind {HOST}:{front}
    server postern {HOST}:{backend} send-proxy-v2
""")
    s = Setup(srv, smtp, front, cert, workdir)
    os.makedirs(s.local)
    with open(s.rc, "w") as f:
        f.write(f"""IMAPAccount postern
Host localhost
Port {front}
User alice
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {cert.cert}
AuthMechs LOGIN
Timeout 20

IMAPStore remote
Account postern

MaildirStore local
Path {s.local}/
Inbox {s.local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Remove Both
Expunge Both
SyncState *
CopyArrivalDate yes
""")
    return s


def deliver(s, subject):
    msg = (f"From: Bob <bob@remote.example>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject}@remote.example>\r\n\r\nbody of {subject}\r\n")
    with smtplib.SMTP(HOST, s.smtp, timeout=10) as c:
        c.sendmail("bob@remote.example", ["alice@example.com"], msg)


def mbsync(s):
    proc = subprocess.run([find_program("mbsync"), "-c", s.rc, "-V", "sync"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"mbsync failed ({proc.returncode}):\n{proc.stdout}\n" \
                                 f"{proc.stderr}\n---- postern\n{s.srv.log()}"
    return proc.stdout + proc.stderr


def local_messages(s, folder):
    """{subject: (path, maildir flags)} of a local Maildir folder."""
    out = {}
    base = os.path.join(s.local, folder)
    for sub in ("cur", "new"):
        d = os.path.join(base, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                subject = email.message_from_bytes(f.read())["Subject"]
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            out[subject] = (path, flags)
    return out


def server_messages(s, folder):
    """{subject: set of flags} on the server, read with imaplib over TLS (direct)."""
    ctx = ssl.create_default_context(cafile=s.cert.cert)
    m = imaplib.IMAP4_SSL("localhost", s.front, ssl_context=ctx, timeout=10)
    m.login("alice", PASSWORD)
    typ, data = m.select(folder, readonly=True)
    assert typ == "OK", data
    out = {}
    if int(data[0]) > 0:
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
            subject = item[1].decode().split(":", 1)[1].strip()
            out[subject] = flags - {"\\Recent"}
    m.logout()
    return out


def set_local_flags(path, flags):
    base = path.split(":2,", 1)[0]
    folder = os.path.dirname(os.path.dirname(base))
    target = os.path.join(folder, "cur", os.path.basename(base) + ":2," + flags)
    os.rename(path, target)


def test_mbsync_round_trip_through_haproxy(setup):
    s = setup
    for subject in ("keep", "move", "delete"):
        deliver(s, subject)
    ctx = ssl.create_default_context(cafile=s.cert.cert)
    m = imaplib.IMAP4_SSL("localhost", s.front, ssl_context=ctx, timeout=10)
    m.login("alice", PASSWORD)
    assert m.create("Archive")[0] == "OK"
    m.logout()

    # 1. Server -> local: three messages, and the Archive folder.
    mbsync(s)
    inbox = local_messages(s, "INBOX")
    assert set(inbox) == {"keep", "move", "delete"}
    assert os.path.isdir(os.path.join(s.local, "Archive", "cur"))

    # 2. Local changes: flags, a move to another folder, a deletion.
    set_local_flags(inbox["keep"][0], "FS")
    moved = inbox["move"][0]
    name = re.sub(r",U=\d+", "", os.path.basename(moved))  # a new message for mbsync there
    shutil.move(moved, os.path.join(s.local, "Archive", "cur", name))
    os.unlink(inbox["delete"][0])
    mbsync(s)
    assert server_messages(s, "INBOX") == {"keep": {"\\Seen", "\\Flagged"}}
    assert set(server_messages(s, "Archive")) == {"move"}

    # 3. Server changes: a flag, a MOVE to Archive, new mail.
    m = imaplib.IMAP4_SSL("localhost", s.front, ssl_context=ctx, timeout=10)
    m.login("alice", PASSWORD)
    m.select("INBOX")
    assert m.store("1", "+FLAGS", "(\\Answered)")[0] == "OK"
    assert m.uid("MOVE", "1", "Archive")[0] == "OK"
    m.logout()
    deliver(s, "fresh")
    mbsync(s)
    assert set(local_messages(s, "INBOX")) == {"fresh"}
    archive = local_messages(s, "Archive")
    assert set(archive) == {"keep", "move"}
    assert archive["keep"][1] == "FRS"

    # 4. Nothing left to do: a second run changes nothing on either side.
    mbsync(s)
    assert set(local_messages(s, "INBOX")) == {"fresh"}
    assert server_messages(s, "Archive") == {"keep": {"\\Seen", "\\Flagged", "\\Answered"},
                                             "move": set()}

    # Every session came through HAProxy and was logged with it as the proxy.
    logins = s.srv.events("imap_login", result="ok")
    assert len(logins) >= 4
    assert all(e["listener"] == "imaps-proxy" and e["proxy"].startswith(HOST + ":")
               for e in logins)
