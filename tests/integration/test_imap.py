"""The IMAP service end to end: Python imaplib (and raw sockets where imaplib cannot say it)
against a real postern with accounts, mail delivered by its own SMTP service into the same
Maildir; directly (STARTTLS, implicit TLS), through HAProxy (send-proxy-v2, TLS passthrough)
and through nginx stream (PROXY v1, proxy.assume-tls).

Clients bind 127.0.0.2+ so the real client is told apart from the proxy (127.0.0.1) in logs.
"""
import base64
import email
import imaplib
import json
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from peers import LineConversation, connect_from, free_port, postern_binary

HOST = "127.0.0.1"
PROXY_IP = "127.0.0.1"
PASSWORD = "correct horse"
ACCOUNTS = [("alice", ["alice@example.com"]), ("bob", ["bob@example.com"])]

# imaplib (3.11) does not know these commands; it only checks the state it may send them in.
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
imaplib.Commands.setdefault("IDLE", ("AUTH", "SELECTED"))


# ---------------------------------------------------------------------------------------------
# Configuration

@pytest.fixture(scope="module")
def secret():
    proc = subprocess.run([postern_binary(), "hash-password", "--scheme", "sha512",
                           "--password-stdin"], input=PASSWORD + "\n", capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def listener(name, port, protocol="imap", implicit=False, proxied=False, assume_tls=False):
    text = (f'[server.listener."{name}"]\nbind = "{HOST}:{port}"\nprotocol = "{protocol}"\n'
            f'tls.implicit = {"true" if implicit else "false"}\n')
    if proxied:
        text += (f'[server.listener."{name}".proxy]\ntrusted-networks = ["{PROXY_IP}"]\n'
                 f'assume-tls = {"true" if assume_tls else "false"}\n')
    return text + "\n"


def config(listeners, secret, server_extra=""):
    accounts = "".join(
        f'[[directory.accounts]]\nname = "{name}"\nsecret = "{secret}"\n'
        f'email = {json.dumps(emails)}\n\n' for name, emails in ACCOUNTS)
    return (f'[server]\nhostname = "mx.postern.test"\ndata-dir = "{{data_dir}}"\nworkers = 2\n'
            f'{server_extra}\n[server.proxy]\ntimeout = "2s"\n\n{listeners}\n{accounts}')


class Server:
    """A running postern with SMTP, plain IMAP (STARTTLS) and implicit-TLS IMAP listeners."""

    def __init__(self, srv, smtp, imap, imaps):
        self.srv, self.smtp, self.imap, self.imaps = srv, smtp, imap, imaps


@pytest.fixture
def server(start_postern, secret):
    smtp, imap, imaps = free_port(), free_port(), free_port()
    srv = start_postern(config(listener("smtp", smtp, protocol="smtp") + listener("imap", imap)
                               + listener("imaps", imaps, implicit=True), secret))
    return Server(srv, smtp, imap, imaps)


# ---------------------------------------------------------------------------------------------
# Clients

def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class IMAP(imaplib.IMAP4):
    """imaplib over a socket bound to a chosen loopback source address."""

    def __init__(self, port, src="127.0.0.2", host=HOST, timeout=10):
        self.src = src
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return connect_from(self.src, self.host, self.port, timeout=timeout)


class IMAPS(imaplib.IMAP4_SSL):
    def __init__(self, port, src="127.0.0.2", host=HOST, timeout=10):
        self.src = src
        super().__init__(host, port, ssl_context=tls_context(), timeout=timeout)

    def _create_socket(self, timeout):
        sock = connect_from(self.src, self.host, self.port, timeout=timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname="mx.postern.test")


def login(port, user="alice", src="127.0.0.2"):
    m = IMAPS(port, src)
    typ, _ = m.login(user, PASSWORD)
    assert typ == "OK"
    return m


class Raw(LineConversation):
    """A raw IMAP conversation (optionally over TLS), for what imaplib cannot express."""

    def __init__(self, port, src="127.0.0.2", tls=False):
        sock = connect_from(src, HOST, port, timeout=10)
        super().__init__(tls_context().wrap_socket(sock, server_hostname="mx.postern.test")
                         if tls else sock)
        self.greeting = self.line()

    def line(self, timeout=10):
        return super().line(timeout)

    def until(self, prefix, timeout=10):
        """Lines up to and including the first one starting with prefix."""
        prefix = prefix.encode() if isinstance(prefix, str) else prefix
        lines = []
        while True:
            line = self.line(timeout)
            if line is None:
                return lines + [b"<closed>"]
            lines.append(line)
            if line.startswith(prefix):
                return lines

    def cmd(self, tag, text):
        self.send(f"{tag} {text}\r\n")
        return self.until(tag + " ")

    def login(self, user="alice"):
        assert self.cmd("L", f'LOGIN {user} "{PASSWORD}"')[-1].startswith(b"L OK")

    def closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            return not self.buf and self.sock.recv(4096) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True


def deliver(server, subject, body="hello", rcpt="alice@example.com", extra_headers="",
            raw=None):
    msg = raw or (f"From: Bob Sender <bob@remote.example>\r\nTo: Alice <{rcpt}>\r\n"
                  f"Subject: {subject}\r\nDate: Tue, 1 Feb 1994 10:00:00 +0000\r\n"
                  f"Message-ID: <{subject.replace(' ', '.')}@remote.example>\r\n"
                  f"{extra_headers}\r\n{body}\r\n")
    with smtplib.SMTP(HOST, server.smtp, source_address=("127.0.0.9", 0), timeout=10) as s:
        s.sendmail("bob@remote.example", [rcpt], msg.encode() if isinstance(msg, str) else msg)
    settle(server, rcpt.split("@")[0])


def settle(server, account):
    """Makes the store assign UIDs now (STATUS syncs the folder without taking \\Recent), so
    that messages delivered in the same second get UIDs in delivery order: the tests count
    on it, and file names alone do not sort by delivery time (see the report on maildir
    names: ".M<usec>" is not zero-padded)."""
    with Raw(server.imaps, SETTLE_CLIENT, tls=True) as c:
        c.login(account)
        assert c.cmd("s1", "STATUS INBOX (MESSAGES)")[-1].startswith(b"s1 OK")
        c.cmd("s2", "LOGOUT")


SETTLE_CLIENT = "127.0.0.9"


def logins(srv, **match):
    """imap_login events of the test's own clients (not the settle() helper)."""
    return [e for e in srv.events("imap_login", **match)
            if not e["client"].startswith(SETTLE_CLIENT + ":")]


def fetch_map(m, spec, items, uid=False):
    """{seq or uid: {item: value}} for simple (non-literal) FETCH results."""
    typ, data = m.uid("FETCH", spec, items) if uid else m.fetch(spec, items)
    assert typ == "OK", data
    out = {}
    for entry in data:
        text = entry[0] if isinstance(entry, tuple) else entry
        if not text:
            continue
        seq = int(text.split()[0])
        out[seq] = text.decode()
    return out


def refused(call, *args):
    """imaplib raises on BAD; returns the error text."""
    with pytest.raises(imaplib.IMAP4.error) as info:
        call(*args)
    return str(info.value)


def untagged(m, name):
    return m.untagged_responses.pop(name, [])


MULTIPART = (
    "From: =?UTF-8?Q?J=C3=BCrgen?= <jurgen@remote.example>\r\n"
    "To: alice@example.com, Carol <carol@example.org>\r\n"
    "Cc: dave@example.net\r\n"
    "Subject: =?UTF-8?B?R3LDvMOfZQ==?= report\r\n"
    "Date: Wed, 2 Feb 2000 12:00:00 +0100\r\n"
    "Message-ID: <mp@remote.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XYZ\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Quarterly caf=C3=A9 numbers attached.\r\n"
    "--XYZ\r\n"
    "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQFBgc=\r\n"
    "--XYZ--\r\n")


# ---------------------------------------------------------------------------------------------
# Pre-authentication: capabilities, STARTTLS, LOGINDISABLED

def test_plain_session_advertises_logindisabled_and_refuses_login(server):
    with Raw(server.imap) as c:
        assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
        assert b"STARTTLS" in c.greeting and b"LOGINDISABLED" in c.greeting
        assert b"AUTH=PLAIN" not in c.greeting and c.greeting.endswith(b"postern ready")
        caps = c.cmd("a1", "CAPABILITY")
        assert caps[0].startswith(b"* CAPABILITY IMAP4rev1 ")
        for cap in (b"LITERAL+", b"SASL-IR", b"ID", b"ENABLE", b"IDLE", b"NAMESPACE",
                    b"UIDPLUS", b"MOVE", b"UNSELECT", b"CHILDREN", b"STARTTLS",
                    b"LOGINDISABLED"):
            assert cap in caps[0].split(), caps
        assert caps[-1] == b"a1 OK CAPABILITY completed"
        assert c.cmd("a2", f'LOGIN alice "{PASSWORD}"')[-1].startswith(b"a2 NO [PRIVACYREQUIRED]")
        assert c.cmd("a3", "AUTHENTICATE PLAIN")[-1].startswith(b"a3 NO [PRIVACYREQUIRED]")
        assert c.cmd("a4", "NOOP") == [b"a4 OK NOOP completed"]
        assert c.cmd("a5", "SELECT INBOX")[-1].startswith(b"a5 BAD")
        assert c.cmd("a6", "LOGOUT") == [b"* BYE postern logging out", b"a6 OK LOGOUT completed"]
        assert c.closed()
    assert not server.srv.events("imap_login")


def test_starttls_then_login_with_imaplib(server):
    m = IMAP(server.imap)
    assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities
    typ, _ = m.starttls(ssl_context=tls_context())
    assert typ == "OK"
    assert "LOGINDISABLED" not in m.capabilities and "STARTTLS" not in m.capabilities
    assert "AUTH=PLAIN" in m.capabilities
    typ, data = m.login("alice", PASSWORD)
    assert typ == "OK" and data[0].startswith(b"[CAPABILITY IMAP4rev1")
    assert m.logout()[0] == "BYE"
    event = server.srv.wait_event("imap_login", result="ok", mechanism="LOGIN", listener="imap")
    assert event["user"] == "alice"
    assert event["client"].startswith("127.0.0.2:") and "proxy" not in event
    assert PASSWORD not in server.srv.log()


def test_implicit_tls_capabilities_and_login_literals(server):
    with Raw(server.imaps, tls=True) as c:
        assert b"AUTH=PLAIN" in c.greeting and b"LOGINDISABLED" not in c.greeting
        assert b"STARTTLS" not in c.greeting
        # A synchronizing literal waits for "+", a LITERAL+ one does not.
        c.send("a1 LOGIN {5}\r\n")
        assert c.line().startswith(b"+ ")
        c.send(f"alice {{{len(PASSWORD)}+}}\r\n{PASSWORD}\r\n")
        reply = c.until("a1 ")
        assert reply[-1].startswith(b"a1 OK [CAPABILITY IMAP4rev1 ")
        assert b"AUTH=PLAIN" not in reply[-1]
        assert c.cmd("a2", "LOGIN alice x")[-1].startswith(b"a2 BAD")


def test_authenticate_plain_with_and_without_initial_response(server):
    creds = base64.b64encode(f"\0alice\0{PASSWORD}".encode()).decode()
    with Raw(server.imaps, tls=True) as c:
        assert c.cmd("a1", f"AUTHENTICATE PLAIN {creds}")[-1].startswith(b"a1 OK [CAPABILITY")
    with Raw(server.imaps, tls=True) as c:
        c.send("a1 AUTHENTICATE PLAIN\r\n")
        assert c.line() == b"+ "
        c.send(creds + "\r\n")
        assert c.until("a1 ")[-1].startswith(b"a1 OK")
    with Raw(server.imaps, tls=True) as c:
        c.send("a1 AUTHENTICATE PLAIN\r\n")
        assert c.line() == b"+ "
        c.send("*\r\n")
        assert c.until("a1 ")[-1].startswith(b"a1 BAD")
        assert c.cmd("a2", "AUTHENTICATE CRAM-MD5")[-1].startswith(b"a2 NO")
        assert c.cmd("a3", "AUTHENTICATE PLAIN !!!")[-1].startswith(b"a3 BAD")
    m = IMAPS(server.imaps)
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0bob\0{PASSWORD}".encode())
    assert typ == "OK"
    m.logout()
    events = logins(server.srv, result="ok", mechanism="PLAIN")
    assert {e["user"] for e in events} == {"alice", "bob"}


def test_failed_logins_are_logged_without_secrets_and_ban(start_postern, secret):
    smtp, imaps = free_port(), free_port()
    srv = start_postern(config(listener("smtp", smtp, protocol="smtp")
                               + listener("imaps", imaps, implicit=True), secret,
                               server_extra='auto-ban.auth.rate = "3/10m"\n'
                                            'auto-ban.duration = "10m"\n'))
    with Raw(imaps, "127.0.0.3", tls=True) as c:
        assert c.cmd("a1", 'LOGIN alice "wrong pass"')[-1].startswith(
            b"a1 NO [AUTHENTICATIONFAILED]")
        assert c.cmd("a2", 'LOGIN nobody "wrong pass"')[-1].startswith(
            b"a2 NO [AUTHENTICATIONFAILED]")
        bad = base64.b64encode(b"\0alice\0wrong pass").decode()
        reply = c.cmd("a3", f"AUTHENTICATE PLAIN {bad}")
        assert reply[-1].startswith(b"a3 NO [AUTHENTICATIONFAILED]")
        assert c.line() == b"* BYE too many failures, try again later"
        assert c.closed()
    # Banned: refused at the greeting; another client is served.
    with Raw(imaps, "127.0.0.3", tls=True) as c:
        assert c.greeting.startswith(b"* BYE")
    with Raw(imaps, "127.0.0.4", tls=True) as c:
        assert c.greeting.startswith(b"* OK")
    failed = srv.events("imap_login", result="failed")
    assert [e["user"] for e in failed] == ["alice", "nobody", "alice"]
    assert [e["mechanism"] for e in failed] == ["LOGIN", "LOGIN", "PLAIN"]
    assert all(e["client"].startswith("127.0.0.3:") for e in failed)
    assert "wrong pass" not in srv.log() and bad not in srv.log()
    srv.wait_event("client_banned", kind="auth")


def test_login_is_answered_in_order_and_failures_are_delayed(server):
    with Raw(server.imaps, tls=True) as c:
        # The password is checked off the event loop; what was pipelined behind LOGIN waits.
        c.send(f'a1 LOGIN alice "{PASSWORD}"\r\na2 SELECT INBOX\r\na3 NOOP\r\n')
        lines = c.until("a3 ")
        tags = [line.split()[0] for line in lines if not line.startswith(b"*")]
        assert tags == [b"a1", b"a2", b"a3"], lines
    with Raw(server.imaps, tls=True) as c:
        started = time.monotonic()
        c.send('b1 LOGIN alice "wrong"\r\nb2 NOOP\r\n')
        assert c.until("b1 ")[-1].startswith(b"b1 NO [AUTHENTICATIONFAILED]")
        assert time.monotonic() - started >= 0.25
        assert c.until("b2 ")[-1] == b"b2 OK NOOP completed"


def test_id_enable_namespace_noop(server):
    m = login(server.imaps)
    typ, data = m._simple_command("ID", '("name" "pytest" "version" "1")')
    assert typ == "OK"
    assert untagged(m, "ID") == [b'("name" "postern")']
    typ, data = m.enable("UTF8=ACCEPT")
    assert typ == "OK" and untagged(m, "ENABLED") in ([b""], [None], [])
    assert m.namespace() == ("OK", [b'(("" ".")) NIL NIL'])
    assert m.noop()[0] == "OK"
    m.logout()


# ---------------------------------------------------------------------------------------------
# Mailboxes

def test_mailbox_management(server):
    m = login(server.imaps)
    assert m.create("Work.Projects")[0] == "OK"
    assert m.create("Archive.")[0] == "OK"  # trailing separator: creates "Archive"
    assert m.create("Archive")[0] == "NO"
    assert m.create("INBOX")[0] == "NO"
    typ, data = m.list()
    assert typ == "OK"
    assert set(data) == {b'(\\HasNoChildren) "." Archive', b'(\\HasNoChildren) "." INBOX',
                         b'(\\Noselect \\HasChildren) "." Work',
                         b'(\\HasNoChildren) "." Work.Projects'}
    assert set(m.list('""', "%")[1]) == {b'(\\HasNoChildren) "." Archive',
                                       b'(\\HasNoChildren) "." INBOX',
                                       b'(\\Noselect \\HasChildren) "." Work'}
    assert m.list("Work.", "%")[1] == [b'(\\HasNoChildren) "." Work.Projects']
    assert m.list('""', "inbox")[1] == [b'(\\HasNoChildren) "." INBOX']
    assert m.list('""', '""')[1] == [b'(\\Noselect) "." ""']
    assert m.list('""', "Nothing*")[1] == [None]
    assert m.subscribe("Work.Projects")[0] == "OK"
    assert m.subscribe("INBOX")[0] == "OK"
    assert set(m.lsub()[1]) == {b'() "." INBOX', b'() "." Work.Projects'}
    assert m.unsubscribe("INBOX")[0] == "OK"
    assert m.lsub('""', "*")[1] == [b'() "." Work.Projects']
    assert m.rename("Work.Projects", "Work.Done")[0] == "OK"
    assert m.rename("Missing", "Other")[0] == "NO"
    assert m.rename("INBOX", "Old")[0] == "NO"
    assert m.delete("Work.Done")[0] == "OK"
    assert m.delete("Work.Done")[0] == "NO"
    assert m.delete("INBOX")[0] == "NO"
    assert m.select("Missing")[0] == "NO"
    assert m.status("Missing", "(MESSAGES)")[0] == "NO"
    assert "BAD" in refused(m.status, "INBOX", "(BOGUS)")
    names = {line.decode().split(' "." ')[1] for line in m.list()[1]}
    assert names == {"Archive", "INBOX"}
    m.logout()


def test_select_examine_status_with_delivered_mail(server):
    deliver(server, "one")
    deliver(server, "two")
    m = login(server.imaps)
    typ, data = m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK"
    status = data[0].decode()
    assert status.startswith("INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY ")
    assert status.endswith(" UNSEEN 2)")
    typ, data = m.select("INBOX")
    assert (typ, data) == ("OK", [b"2"])
    assert untagged(m, "FLAGS") == [b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"]
    assert untagged(m, "RECENT") == [b"2"]
    ok = [x.decode() for x in untagged(m, "OK")]
    assert "[UNSEEN 1] First unseen" in ok and "[UIDNEXT 3] Predicted next UID" in ok
    assert any(x.startswith("[UIDVALIDITY ") for x in ok)
    assert any(x.startswith("[PERMANENTFLAGS (\\Answered") for x in ok)
    assert untagged(m, "READ-WRITE") == [b""]
    # A second session sees the messages, no longer \Recent.
    other = login(server.imaps, src="127.0.0.5")
    typ, data = other.select("INBOX", readonly=True)
    assert data == [b"2"] and untagged(other, "RECENT") == [b"0"]
    assert untagged(other, "READ-ONLY") == [b""]
    assert other.store("1", "+FLAGS", "(\\Seen)")[0] == "NO"
    assert other.expunge()[0] == "NO"
    assert other.fetch("1", "(BODY[])")[0] == "OK"
    assert "\\Seen" not in fetch_map(other, "1", "(FLAGS)")[1]  # EXAMINE never sets \Seen
    other.logout()
    m.logout()


# ---------------------------------------------------------------------------------------------
# FETCH

def test_fetch_every_attribute(server):
    deliver(server, "plain one", body="first body line")
    deliver(server, None, raw=MULTIPART)
    m = login(server.imaps)
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
    assert typ == "OK"
    first = data[0].decode()
    assert first.startswith("1 (UID 1 FLAGS (\\Recent) INTERNALDATE \"")
    assert re.search(r'INTERNALDATE "\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"', first)
    assert ('ENVELOPE ("Tue, 1 Feb 1994 10:00:00 +0000" "plain one" '
            '(("Bob Sender" NIL "bob" "remote.example"))') in first
    second = data[1].decode()
    assert '"=?UTF-8?B?R3LDvMOfZQ==?= report"' in second
    # RFC 3501 9: the addresses of a list follow each other without spaces.
    assert '((NIL NIL "alice" "example.com")("Carol" NIL "carol" "example.org"))' in second
    # RFC822.SIZE is the size of what BODY[] returns.
    typ, data = m.fetch("2", "(RFC822.SIZE BODY.PEEK[])")
    size = int(re.search(rb"RFC822\.SIZE (\d+)", data[0][0]).group(1))
    whole = data[0][1]
    assert size == len(whole) and whole.endswith(b"--XYZ--\r\n")
    # Structure.
    typ, data = m.fetch("2", "(BODYSTRUCTURE BODY)")
    text = data[0].decode()
    assert '("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable"' in text.lower() \
        or '"text" "plain"' in text.lower()
    assert '"mixed"' in text.lower() and '"application" "octet-stream"' in text.lower()
    # Sections, partials, and the old RFC822 names.
    typ, data = m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[TEXT]<0.8> "
                             "BODY.PEEK[HEADER.FIELDS (Subject Cc)])")
    parts = {re.search(rb"(BODY\[[^]]*\](<\d+>)?) \{\d+\}$", item[0]).group(1).decode(): item[1]
             for item in data if isinstance(item, tuple)}
    assert parts["BODY[1]"] == b"Quarterly caf=C3=A9 numbers attached."
    assert parts["BODY[2.MIME]"].startswith(b"Content-Type: application/octet-stream")
    assert parts["BODY[TEXT]<0>"] == b"preamble"
    assert parts["BODY[HEADER.FIELDS (SUBJECT CC)]"] == (
        b"Cc: dave@example.net\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?= report\r\n\r\n")
    typ, data = m.fetch("1", "(RFC822.HEADER)")
    assert data[0][1].endswith(b"\r\n\r\n") and b"Subject: plain one" in data[0][1]
    assert "\\Seen" not in fetch_map(m, "1:2", "(FLAGS)")[1]  # nothing so far set \Seen
    typ, data = m.fetch("1", "(RFC822.TEXT)")
    assert data[0][1] == b"first body line\r\n"
    assert "\\Seen" in data[-1].decode() or "\\Seen" in fetch_map(m, "1", "(FLAGS)")[1]
    # BODY[] without PEEK sets \Seen and reports the new flags in the same response.
    typ, data = m.fetch("2", "(BODY[HEADER])")
    assert b"FLAGS (\\Seen \\Recent)" in data[-1] or b"FLAGS (\\Seen \\Recent)" in data[0][0]
    typ, data = m.uid("FETCH", "2", "(RFC822)")
    assert data[0][0].startswith(b"2 (UID 2 RFC822 {") and data[0][1] == whole
    assert "BAD" in refused(m.fetch, "3", "(FLAGS)")  # past the last message
    assert "BAD" in refused(m.fetch, "1", "(BOGUS)")
    assert m.uid("FETCH", "99:100", "(FLAGS)") == ("OK", [None])
    m.logout()


# ---------------------------------------------------------------------------------------------
# SEARCH

def test_search_keys(server):
    deliver(server, "alpha report", body="the quick brown fox")
    deliver(server, "beta", body="lazy dog", extra_headers="X-Spam: yes\r\n")
    deliver(server, None, raw=MULTIPART)
    m = login(server.imaps)
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Flagged \\Answered)")
    m.store("2", "+FLAGS", "(\\Seen \\Deleted \\Draft)")

    def search(*keys, uid=False):
        typ, data = m.uid("SEARCH", *keys) if uid else m.search(None, *keys)
        assert typ == "OK", (keys, data)
        return data[0].decode().split()

    assert search("ALL") == ["1", "2", "3"]
    assert search("SUBJECT", "report") == ["1", "3"]
    assert search("CHARSET", "UTF-8", "SUBJECT", '"Grüße"'.encode()) == ["3"]
    assert search("FROM", "bob") == ["1", "2"]
    assert search("CHARSET", "UTF-8", "FROM", '"jürgen"'.encode()) == ["3"]
    assert search("TO", "carol") == ["3"]
    assert search("CC", "dave") == ["3"]
    assert search("BCC", "x") == []
    assert search("HEADER", "X-Spam", "yes") == ["2"]
    assert search("HEADER", "X-Spam", '""') == ["2"]
    assert search("BODY", "BROWN") == ["1"]
    assert search("BODY", '"café"'.encode()) == ["3"]
    assert search("TEXT", "beta") == ["2"]
    assert search("TEXT", "dog") == ["2"]
    assert search("ANSWERED") == ["1"] and search("UNANSWERED") == ["2", "3"]
    assert search("FLAGGED") == ["1"] and search("UNFLAGGED") == ["2", "3"]
    assert search("DELETED") == ["2"] and search("UNDELETED") == ["1", "3"]
    assert search("DRAFT") == ["2"] and search("UNDRAFT") == ["1", "3"]
    assert search("SEEN") == ["2"] and search("UNSEEN") == ["1", "3"]
    assert search("RECENT") == ["1", "2", "3"]
    assert search("NEW") == ["1", "3"] and search("OLD") == []
    assert search("KEYWORD", "$Junk") == [] and search("UNKEYWORD", "$Junk") == ["1", "2", "3"]
    size2 = int(re.search(r"RFC822\.SIZE (\d+)", fetch_map(m, "2", "(RFC822.SIZE)")[2]).group(1))
    assert "2" in search("LARGER", str(size2 - 1)) and "2" not in search("LARGER", str(size2))
    assert "2" in search("SMALLER", str(size2 + 1)) and "2" not in search("SMALLER", str(size2))
    today = time.strftime("%d-%b-%Y", time.gmtime())
    assert search("ON", today) == ["1", "2", "3"]
    assert search("SINCE", today) == ["1", "2", "3"] and search("BEFORE", today) == []
    assert search("BEFORE", "1-Jan-2100") == ["1", "2", "3"]
    assert search("SENTON", "1-Feb-1994") == ["1", "2"]
    assert search("SENTBEFORE", "2-Feb-1994") == ["1", "2"]
    assert search("SENTSINCE", "1-Jan-2000") == ["3"]
    assert search("2:*") == ["2", "3"] and search("1,3") == ["1", "3"]
    assert search("UID", "2") == ["2"]
    assert search("NOT", "SEEN") == ["1", "3"]
    assert search("OR", "SEEN", "FLAGGED") == ["1", "2"]
    assert search("(OR", "DELETED", "ANSWERED)", "NOT", "FLAGGED") == ["2"]
    assert search("DELETED", "SEEN") == ["2"]
    assert search("UNSEEN", uid=True) == ["1", "3"]
    typ, data = m.search("KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
    assert "BAD" in refused(m.search, None, "BOGUS")
    assert "BAD" in refused(m.search, None, "BEFORE", "32-Jan-2000")
    m.logout()


# ---------------------------------------------------------------------------------------------
# STORE, COPY, MOVE, EXPUNGE (UIDPLUS), CLOSE, UNSELECT

def test_store_flags(server):
    deliver(server, "s1")
    deliver(server, "s2")
    m = login(server.imaps)
    m.select("INBOX")
    typ, data = m.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    assert data == [b"1 (FLAGS (\\Flagged \\Seen \\Recent))"]
    typ, data = m.store("1", "-FLAGS", "\\Flagged")
    assert data == [b"1 (FLAGS (\\Seen \\Recent))"]
    typ, data = m.store("1:2", "FLAGS", "(\\Answered $Keyword)")
    assert data == [b"1 (FLAGS (\\Answered \\Recent))", b"2 (FLAGS (\\Answered \\Recent))"]
    typ, data = m.store("2", "+FLAGS.SILENT", "(\\Draft)")
    assert (typ, data) == ("OK", [None])
    typ, data = m.uid("STORE", "2", "-FLAGS", "(\\Answered)")
    assert data == [b"2 (UID 2 FLAGS (\\Draft \\Recent))"]
    assert "BAD" in refused(m.store, "1", "+FLAGS", "(\\Bogus)")
    assert "BAD" in refused(m.store, "1", "ADD", "(\\Seen)")
    m.logout()
    # Flags live in the Maildir file names (Dovecot's letters), where other programs see them.
    m = login(server.imaps)
    m.select("INBOX")
    assert fetch_map(m, "1:2", "(FLAGS)") == {1: "1 (FLAGS (\\Answered))", 2: "2 (FLAGS (\\Draft))"}
    m.logout()


def test_copy_move_expunge_uidplus(server):
    for i in range(4):
        deliver(server, f"m{i}")
    m = login(server.imaps)
    assert m.create("Archive")[0] == "OK"
    typ, data = m.select("INBOX")
    typ, data = m.copy("1:2", "Archive")
    assert typ == "OK"
    validity = m.status("Archive", "(UIDVALIDITY)")[1][0].decode().split()[-1].rstrip(")")
    assert data == [f"[COPYUID {validity} 1:2 1:2] COPY completed".encode()]
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")
    typ, data = m.uid("MOVE", "3", "Archive")
    assert typ == "OK"
    assert untagged(m, "EXPUNGE") == [b"3"]
    assert [x for x in untagged(m, "OK") if b"COPYUID" in x] == [
        f"[COPYUID {validity} 3 3] Moved".encode()]
    # Sequence numbers shifted: 4 is now 3.
    assert fetch_map(m, "1:*", "(UID)") == {1: "1 (UID 1)", 2: "2 (UID 2)", 3: "3 (UID 4)"}
    m.store("1:2", "+FLAGS", "(\\Deleted)")
    typ, data = m.uid("EXPUNGE", "1")  # UIDPLUS: only UID 1 although 2 is \Deleted too
    assert typ == "OK" and untagged(m, "EXPUNGE") == [b"1"]
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"1"]
    assert fetch_map(m, "1:*", "(UID)") == {1: "1 (UID 4)"}
    # CLOSE expunges silently; UNSELECT does not expunge.
    m.store("1", "+FLAGS", "(\\Deleted)")
    assert m.unselect()[0] == "OK"
    m.select("INBOX")
    assert fetch_map(m, "1:*", "(UID)") == {1: "1 (UID 4)"}
    typ, data = m.close()
    assert typ == "OK" and "EXPUNGE" not in m.untagged_responses
    assert m.select("INBOX")[1] == [b"0"]
    assert m.select("Archive")[1] == [b"3"]
    assert sorted(fetch_map(m, "1:*", "(UID)").values()) == ["1 (UID 1)", "2 (UID 2)",
                                                            "3 (UID 3)"]
    typ, data = m.search(None, "ALL")
    assert m.uid("MOVE", "1:*", "INBOX")[0] == "OK"
    assert m.select("INBOX")[1] == [b"3"]
    m.logout()


def test_append_with_flags_date_and_literal_plus(server):
    m = login(server.imaps)
    m.create("Sent")
    date = imaplib.Time2Internaldate(time.mktime((2021, 3, 4, 5, 6, 7, 0, 0, -1)))
    typ, data = m.append("Sent", "(\\Seen \\Draft)", date, b"Subject: appended\r\n\r\nhi\r\n")
    assert typ == "OK" and re.fullmatch(rb"\[APPENDUID \d+ 1\] APPEND completed", data[0])
    typ, data = m.append("Nowhere", None, None, b"Subject: x\r\n\r\n")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")
    m.select("Sent")
    fetched = fetch_map(m, "1", "(FLAGS INTERNALDATE)")[1]
    assert "\\Seen" in fetched and "\\Draft" in fetched
    stamp = time.mktime((2021, 3, 4, 5, 6, 7, 0, 0, -1))
    assert time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(stamp)) in fetched
    m.logout()
    with Raw(server.imaps, tls=True) as c:
        c.login()
        body = b"Subject: literal plus\r\n\r\n" + b"x" * 10000 + b"\r\n"
        # LITERAL+: no continuation request; the octets follow at once, even across reads.
        c.send(b"a1 APPEND Sent (\\Flagged) {%d+}\r\n" % len(body) + body + b"\r\n")
        reply = c.until("a1 ")
        assert reply[-1].startswith(b"a1 OK [APPENDUID ") and not any(
            x.startswith(b"+") for x in reply)
        c.cmd("a2", "SELECT Sent")
        reply = c.cmd("a3", "FETCH 2 (RFC822.SIZE FLAGS)")
        assert reply[0] == b"* 2 FETCH (RFC822.SIZE %d FLAGS (\\Flagged \\Recent))" % len(body)
        # Too large: a synchronizing literal is refused before the octets are sent.
        assert c.cmd("a4", "APPEND Sent {999999999}")[-1].startswith(b"a4 NO [TOOBIG]")
        assert c.cmd("a5", "NOOP")[-1] == b"a5 OK NOOP completed"


def test_append_literal_plus_over_the_limit_is_drained(server):
    with Raw(server.imaps, tls=True) as c:
        c.login()
        size = 64 * 1024 * 1024 + 1
        c.send(b"a1 APPEND INBOX {%d+}\r\n" % size)
        chunk = b"y" * (1 << 20)
        sent = 0
        while sent < size:
            n = min(len(chunk), size - sent)
            c.send(chunk[:n])
            sent += n
        c.send(b"\r\n")
        assert c.until("a1 ", timeout=60)[-1].startswith(b"a1 NO [TOOBIG]")
        assert c.cmd("a2", "STATUS INBOX (MESSAGES)")[0] == b"* STATUS INBOX (MESSAGES 0)"


# ---------------------------------------------------------------------------------------------
# Updates: IDLE, concurrent sessions

def test_idle_reports_smtp_delivery(server):
    with Raw(server.imaps, tls=True) as c:
        c.login()
        c.cmd("a1", "SELECT INBOX")
        c.send("a2 IDLE\r\n")
        assert c.line() == b"+ idling"
        deliver(server, "while idling")
        assert c.line(timeout=10) == b"* 1 EXISTS"
        assert c.line() == b"* 1 RECENT"
        c.send("DONE\r\n")
        assert c.until("a2 ") == [b"a2 OK IDLE terminated"]
        c.send("a3 IDLE\r\n")
        assert c.line() == b"+ idling"
        c.send("NOTDONE\r\n")
        assert c.until("a3 ")[-1].startswith(b"a3 BAD")


def test_noop_reports_new_mail(server):
    m = login(server.imaps)
    assert m.select("INBOX")[1] == [b"0"]
    untagged(m, "EXISTS")
    untagged(m, "RECENT")
    deliver(server, "later")
    typ, data = m.noop()
    assert typ == "OK" and untagged(m, "EXISTS") == [b"1"] and untagged(m, "RECENT") == [b"1"]
    m.logout()


def test_two_sessions_see_each_others_flags_and_expunges(server):
    for i in range(3):
        deliver(server, f"shared {i}")
    a = login(server.imaps, src="127.0.0.2")
    b = login(server.imaps, src="127.0.0.3")
    a.select("INBOX")
    b.select("INBOX")
    a.store("2", "+FLAGS", "(\\Flagged)")
    typ, _ = b.noop()
    assert untagged(b, "FETCH") == [b"2 (UID 2 FLAGS (\\Flagged))"]
    a.store("1", "+FLAGS", "(\\Deleted)")
    a.expunge()
    # RFC 3501 7.4.1: no EXPUNGE during FETCH/STORE/SEARCH; sequence numbers stay put.
    assert fetch_map(b, "1:*", "(UID)") == {1: "1 (UID 1)", 2: "2 (UID 2)", 3: "3 (UID 3)"}
    assert "EXPUNGE" not in b.untagged_responses
    assert b.search(None, "ALL")[1] == [b"1 2 3"] and "EXPUNGE" not in b.untagged_responses
    b.noop()
    assert untagged(b, "EXPUNGE") == [b"1"]
    assert fetch_map(b, "1:*", "(UID FLAGS)") == {1: "1 (UID 2 FLAGS (\\Flagged))",
                                                 2: "2 (UID 3 FLAGS ())"}
    # A UID command may carry the EXPUNGE.
    b.store("2", "+FLAGS", "(\\Deleted)")
    b.expunge()
    a.uid("FETCH", "1:*", "(FLAGS)")
    assert untagged(a, "EXPUNGE") == [b"2"]
    a.logout()
    b.logout()


def test_selected_mailbox_deleted_by_another_session(server):
    a = login(server.imaps, src="127.0.0.2")
    b = login(server.imaps, src="127.0.0.3")
    a.create("Temp")
    a.select("Temp")
    assert b.delete("Temp")[0] == "OK"
    with pytest.raises(imaplib.IMAP4.abort):
        a.noop()
    assert untagged(a, "BYE") == [b"the selected mailbox was deleted"]
    b.logout()


def test_copyuid_with_many_ranges(server):
    for i in range(60):
        deliver(server, f"bulk {i}")
    m = login(server.imaps)
    m.create("Odd")
    m.select("INBOX")
    odd = ",".join(str(n) for n in range(1, 61, 2))
    typ, data = m.uid("COPY", odd, "Odd")
    assert typ == "OK"
    # imaplib files the tagged response code under its name.
    validity, src, dst = untagged(m, "COPYUID")[0].split()
    assert src.decode() == odd and dst == b"1:30"
    m.logout()


# ---------------------------------------------------------------------------------------------
# Limits and errors

def test_commands_before_login_limit(server):
    with Raw(server.imap) as c:
        c.send("\r\n")  # an empty line counts as a command
        for i in range(19):
            assert c.cmd(f"n{i}", "NOOP")[-1] == f"n{i} OK NOOP completed".encode()
        c.send("n19 NOOP\r\n")
        assert c.line() == b"* BYE too many commands before login"
        assert c.closed()
    assert server.srv.wait_event("imap_command_limit")["client"].startswith("127.0.0.2:")


def test_error_limit(server):
    with Raw(server.imaps, tls=True) as c:
        c.login()
        for i in range(10):
            assert c.cmd(f"e{i}", "FROBNICATE")[-1] == f"e{i} BAD unknown command".encode()
        c.send("e10 FROBNICATE\r\n")
        assert c.line() == b"e10 BAD unknown command"
        assert c.line() == b"* BYE too many errors"
        assert c.closed()
    server.srv.wait_event("imap_error_limit")


def test_line_and_literal_limits(server):
    with Raw(server.imap) as c:
        # Before login a command may hold 8 KiB.
        c.send(b"a1 NOOP " + b"x" * 9000 + b"\r\n")
        assert c.until("a1 ")[-1].startswith(b"a1 BAD [TOOBIG]")
        assert c.cmd("a2", "LOGIN {9000}")[-1].startswith(b"a2 BAD [TOOBIG]")
        assert c.cmd("a3", "NOOP")[-1] == b"a3 OK NOOP completed"
    with Raw(server.imaps, tls=True) as c:
        c.login()
        # After login 64 KiB; the core's 4 KiB input buffer is never the limit.
        c.send(b"b1 SEARCH " + b"ALL " * 5000 + b"\r\n")
        assert c.until("b1 ")[-1] == b"b1 BAD SEARCH not allowed in this state"
        c.send(b"b2 LIST \"\" " + b"x" * 70000 + b"\r\n")
        assert c.until("b2 ")[-1].startswith(b"b2 BAD [TOOBIG]")
        assert c.cmd("b3", "LIST \"\" " + "(" * 17 + ")" * 17)[-1].startswith(b"b3 BAD")
        assert c.cmd("b4", "NOOP")[-1] == b"b4 OK NOOP completed"
        c.cmd("b5", "SELECT INBOX")
        assert c.cmd("b6", "SEARCH " + "NOT " * 20 + "ALL")[-1].startswith(b"b6 BAD")
        assert c.cmd("b7", "SEARCH " + "NOT " * 10 + "ALL")[-1] == b"b7 OK SEARCH completed"
        c.send("* NOOP\r\n")
        assert c.line().startswith(b"* BAD")


def test_configured_imap_limits(start_postern, secret):
    """The imap.* limits come from the configuration, not from the defaults."""
    imap, imaps = free_port(), free_port()
    srv = start_postern(config(
        listener("imap", imap) + listener("imaps", imaps, implicit=True), secret,
        server_extra='[imap]\nmax-errors = 2\nmax-commands-before-login = 3\n'
                     '[imap.request]\nmax-size = 2048\nmax-line-before-login = 1024\n'
                     'max-line = 2048\nmax-depth = 2\n'))
    with Raw(imap) as c:
        c.send(b"a1 NOOP " + b"x" * 1100 + b"\r\n")  # over 1 KiB before login
        assert c.until("a1 ")[-1].startswith(b"a1 BAD [TOOBIG]")
        for tag in ("a2", "a3", "a4"):  # a refused line is no command: these are three
            assert c.cmd(tag, "NOOP")[-1] == f"{tag} OK NOOP completed".encode()
        c.send("a5 NOOP\r\n")
        assert c.line() == b"* BYE too many commands before login"
        assert c.closed()
    with Raw(imaps, tls=True) as c:
        c.login()
        assert c.cmd("b1", "APPEND INBOX {3000}")[-1].startswith(b"b1 NO [TOOBIG]")
        c.send(b"b2 LIST \"\" " + b"x" * 2100 + b"\r\n")
        assert c.until("b2 ")[-1].startswith(b"b2 BAD [TOOBIG]")
        c.cmd("b3", "SELECT INBOX")
        assert c.cmd("b4", "SEARCH NOT NOT NOT ALL")[-1].startswith(b"b4 BAD")
        c.send("b5 FROBNICATE\r\n")  # the third BAD (b2, b4, b5): past max-errors = 2
        assert c.line().startswith(b"b5 BAD")
        assert c.line() == b"* BYE too many errors"
        assert c.closed()


def test_pipelined_commands_and_split_writes(server):
    deliver(server, "pipelined")
    with Raw(server.imaps, tls=True) as c:
        c.login()
        c.send("p1 SELECT INBOX\r\np2 FETCH 1 (UID)\r\np3 NOOP\r\n")
        lines = c.until("p3 ")
        assert b"p1 OK [READ-WRITE] SELECT completed" in lines
        assert b"* 1 FETCH (UID 1)" in lines and lines[-1] == b"p3 OK NOOP completed"
        for byte in b"p4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n":
            c.send(bytes([byte]))
        lines = c.until("p4 ")
        assert lines[0] == b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}"
        assert lines[-1] == b"p4 OK FETCH completed"


# ---------------------------------------------------------------------------------------------
# Behind proxies

@pytest.fixture
def behind_proxies(start_postern, secret):
    ports = {name: free_port() for name in ("smtp", "tls", "plain", "assumed")}
    srv = start_postern(config(
        listener("smtp", ports["smtp"], protocol="smtp")
        + listener("imap-tls", ports["tls"], implicit=True, proxied=True)
        + listener("imap-plain", ports["plain"], proxied=True)
        + listener("imap-assumed", ports["assumed"], proxied=True, assume_tls=True), secret))
    return Server(srv, ports["smtp"], ports["plain"], ports["tls"]), ports


def haproxy_config(front, backend):
    return f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 20s
    timeout server 20s
listen imap
    bind {HOST}:{front}
    server postern {HOST}:{backend} send-proxy-v2
"""


@pytest.mark.requires("haproxy")
def test_haproxy_tls_passthrough_names_the_real_client(behind_proxies, start_haproxy):
    server, ports = behind_proxies
    front = free_port()
    start_haproxy(haproxy_config(front, ports["tls"]))
    deliver(server, "through haproxy")
    m = login(front, src="127.0.0.2")
    assert m.select("INBOX")[1] == [b"1"]
    assert b"through haproxy" in m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0][1]
    m.logout()
    [event] = logins(server.srv, result="ok", listener="imap-tls")
    assert event["client"].startswith("127.0.0.2:") and event["proxy"].startswith(PROXY_IP + ":")
    # The TLS handshake (passed through HAProxy) is logged with the real client too.
    assert any(e["client"].startswith("127.0.0.2:") and e.get("proxy", "").startswith(PROXY_IP)
               for e in server.srv.events("tls_established", listener="imap-tls"))


@pytest.mark.requires("haproxy")
def test_haproxy_plain_proxy_keeps_login_disabled(behind_proxies, start_haproxy):
    server, ports = behind_proxies
    front = free_port()
    start_haproxy(haproxy_config(front, ports["plain"]))
    with Raw(front, "127.0.0.6") as c:
        assert b"LOGINDISABLED" in c.greeting
        assert c.cmd("a1", f'LOGIN alice "{PASSWORD}"')[-1].startswith(b"a1 NO [PRIVACYREQUIRED]")
    connect = server.srv.wait_event("connect", listener="imap-plain")
    assert connect["client"].startswith("127.0.0.6:")


@pytest.mark.requires("nginx-stream")
def test_nginx_v1_with_assume_tls_allows_login(behind_proxies, start_nginx):
    server, ports = behind_proxies
    front = free_port()
    start_nginx(f"""
server {{
    listen {HOST}:{front};
    proxy_pass {HOST}:{ports["assumed"]};
    proxy_protocol on;
}}
""")
    deliver(server, "through nginx")
    m = IMAP(front, src="127.0.0.7")
    assert "LOGINDISABLED" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    m.login("alice", PASSWORD)
    assert m.select("INBOX")[1] == [b"1"]
    m.logout()
    [event] = logins(server.srv, result="ok", listener="imap-assumed")
    assert event["client"].startswith("127.0.0.7:") and event["proxy"].startswith(PROXY_IP + ":")
    assert server.srv.wait_event("connect", listener="imap-assumed")["proxy_version"] == "1"


def test_assume_tls_does_not_apply_to_direct_clients(behind_proxies):
    server, ports = behind_proxies
    with Raw(ports["assumed"], "127.0.0.8") as c:
        assert b"LOGINDISABLED" in c.greeting


@pytest.mark.requires("haproxy")
def test_concurrent_sessions_through_haproxy(behind_proxies, start_haproxy):
    server, ports = behind_proxies
    front = free_port()
    start_haproxy(haproxy_config(front, ports["tls"]))
    for i in range(2):
        deliver(server, f"c{i}")
    a, b = login(front, src="127.0.0.2"), login(front, src="127.0.0.3")
    a.select("INBOX")
    b.select("INBOX")
    a.store("1", "+FLAGS", "(\\Seen)")
    b.noop()
    assert untagged(b, "FETCH") == [b"1 (UID 1 FLAGS (\\Seen))"]
    a.logout()
    b.logout()
    clients = {e["client"].split(":")[0] for e in logins(server.srv, result="ok")}
    assert clients == {"127.0.0.2", "127.0.0.3"}


def test_parallel_clients_do_not_interfere(server):
    deliver(server, "parallel")
    errors = []

    def worker(src):
        try:
            m = login(server.imaps, src=src)
            for _ in range(10):
                m.select("INBOX")
                assert fetch_map(m, "1", "(UID)") == {1: "1 (UID 1)"}
                m.noop()
            m.logout()
        except Exception as exc:  # reported below with the client that failed
            errors.append((src, exc))

    threads = [threading.Thread(target=worker, args=(f"127.0.0.{10 + i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
