"""The SMTP service end to end: Python smtplib, swaks and raw sockets against a real postern,
directly and through real HAProxy (send-proxy-v2) and nginx stream (v1).

Clients bind 127.0.0.2+ so the real client can be told apart from the proxy (127.0.0.1) in
replies, Received headers and logs. Limits are small so that every limit can be reached.
"""
import json
import os
import smtplib
import ssl
import subprocess
import time

import pytest

from peers import LineConversation, connect_from, find_program, free_port

HOST = "127.0.0.1"
PROXY_IP = "127.0.0.1"
PASSWORD = "correct horse"
SIZE_LIMIT = 10000
MAX_RCPTS = 3
MAX_ERRORS = 5
MAX_COMMANDS = 12
ACCOUNTS = [
    ("alice", ["alice@example.com", "al@example.com"]),
    ("bob", ["bob@example.com"]),
    ("carol", ["carol@example.org", "postmaster@mx.postern.test"]),
]


# ---------------------------------------------------------------------------------------------
# Configuration

@pytest.fixture(scope="module")
def secret(tmp_path_factory):
    """A crypt(3) hash of PASSWORD from `postern hash-password` (openssl as a fallback)."""
    from peers import postern_binary
    proc = subprocess.run([postern_binary(), "hash-password", "--scheme", "sha512"],
                          input=PASSWORD + "\n", capture_output=True, text=True, timeout=20)
    if proc.returncode == 0 and proc.stdout.startswith("$"):
        return proc.stdout.strip()
    proc = subprocess.run(["openssl", "passwd", "-6", "-salt", "abcdefgh", PASSWORD],
                          capture_output=True, text=True, check=True, timeout=20)
    return proc.stdout.strip()


def listener(name, port, extra=""):
    return f'[server.listener."{name}"]\nbind = "{HOST}:{port}"\nprotocol = "smtp"\n{extra}\n'


def proxied(extra=""):
    return f'proxy.trusted-networks = ["{PROXY_IP}"]\n{extra}'


def config(listeners, secret, server_extra="", errors=MAX_ERRORS, commands=MAX_COMMANDS):
    accounts = "".join(
        f'[[directory.accounts]]\nname = "{name}"\nsecret = "{secret}"\n'
        f'email = {json.dumps(emails)}\n\n' for name, emails in ACCOUNTS)
    return (f'[server]\nhostname = "mx.postern.test"\ndata-dir = "{{data_dir}}"\nworkers = 2\n'
            f'{server_extra}\n'
            f'[server.proxy]\ntimeout = "1s"\n\n'
            f'[session]\nmax-errors = {errors}\nmax-commands-before-mail = {commands}\n'
            f'[session.data.limits]\nsize = {SIZE_LIMIT}\n'
            f'[session.rcpt]\nmax-recipients = {MAX_RCPTS}\n\n'
            f'{listeners}\n{accounts}')


@pytest.fixture
def direct(start_postern, secret):
    """A postern with one direct SMTP listener: (server, port)."""
    port = free_port()
    srv = start_postern(config(listener("smtp", port), secret))
    return srv, port


def haproxy_config(front, backend, opts="send-proxy-v2"):
    return f"""
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen mail
    bind {HOST}:{front}
    server postern {HOST}:{backend} {opts}
"""


def nginx_config(front, backend):
    return f"""
server {{
    listen {HOST}:{front};
    proxy_pass {HOST}:{backend};
    proxy_protocol on;
}}
"""


# ---------------------------------------------------------------------------------------------
# Clients and mailboxes

class Client(LineConversation):
    """A raw SMTP conversation over a socket bound to a chosen source address."""

    def __init__(self, port, src="127.0.0.2", timeout=5.0):
        super().__init__(connect_from(src, HOST, port, timeout=timeout))
        self.greeting = self.reply()

    def reply(self):
        """One complete reply (all its lines) as text; '' when the server closed."""
        lines = []
        while True:
            line = self.line()
            if line is None:
                return "\r\n".join(lines)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return "\r\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            return not self.buf and self.sock.recv(4096) == b""
        except ConnectionResetError:
            return True


def mail_dir(srv, account):
    return os.path.join(srv.dir, "data", account, "new")


def messages(srv, account):
    folder = mail_dir(srv, account)
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out.append(f.read())
    return out


def wait_messages(srv, account, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        found = messages(srv, account)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def received_header(message):
    """The Received header's unfolded text."""
    head = message.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    assert lines[0].startswith("Received: from "), head
    text = lines[0]
    for line in lines[1:]:
        if not line.startswith("\t"):
            break
        text += " " + line[1:]
    return text


def smtp_from(port, src="127.0.0.2"):
    return smtplib.SMTP(HOST, port, local_hostname="client.test", source_address=(src, 0),
                        timeout=10)


def send_raw(port, body, rcpts=("alice@example.com",), src="127.0.0.2"):
    """One message over a raw socket; returns the DATA end reply. body is sent as is."""
    with Client(port, src) as c:
        assert c.cmd("EHLO client.test").startswith("250")
        assert c.cmd("MAIL FROM:<sender@remote.example>").startswith("250")
        for rcpt in rcpts:
            assert c.cmd(f"RCPT TO:<{rcpt}>").startswith("250")
        assert c.cmd("DATA").startswith("354")
        c.send(body)
        return c.reply()


# ---------------------------------------------------------------------------------------------
# Direct clients

def test_greeting_and_ehlo_name_the_real_client(direct):
    srv, port = direct
    with Client(port, "127.0.0.2") as c:
        assert c.greeting == "220 mx.postern.test ESMTP postern"
        reply = c.cmd("EHLO client.test").split("\r\n")
        assert reply[0] == "250-mx.postern.test Hello client.test [127.0.0.2]"
        keywords = [line[4:] for line in reply[1:]]
        for kw in ("PIPELINING", f"SIZE {SIZE_LIMIT}", "8BITMIME", "ENHANCEDSTATUSCODES",
                   "SMTPUTF8", "CHUNKING"):
            assert kw in keywords, reply
        assert not any(k.startswith("AUTH") for k in keywords), "AUTH offered in plain text"
        assert all(line.startswith("250-") for line in reply[:-1])
        assert reply[-1].startswith("250 ")
        assert c.cmd("HELO other.test") == "250 mx.postern.test Hello other.test [127.0.0.2]"
        assert c.cmd("QUIT").startswith("221 2.0.0")
        assert c.closed()


def test_smtplib_delivers_into_maildir_with_received_header(direct):
    srv, port = direct
    with smtp_from(port) as s:
        code, text = s.ehlo()
        assert code == 250 and b"[127.0.0.2]" in text
        refused = s.sendmail("sender@remote.example", ["alice@example.com"],
                             b"Subject: hello\r\n\r\nHello Alice.\r\n")
        assert refused == {}
    found = wait_messages(srv, "alice", 1)
    assert len(found) == 1
    received = received_header(found[0])
    assert received.startswith("Received: from client.test ([127.0.0.2])")
    assert "by mx.postern.test (postern) with ESMTP id " in received
    assert "via proxy" not in received and "version=" not in received
    assert found[0].endswith(b"Subject: hello\r\n\r\nHello Alice.\r\n")
    for line in found[0].split(b"\r\n")[:6]:
        assert len(line) <= 78, line
    event = srv.wait_event("delivered")
    assert event["from"] == "sender@remote.example"
    assert event["accounts"] == "alice" and event["rcpts"] == "1"
    assert event["client"].startswith("127.0.0.2:")
    assert event["queue_id"] in received


def test_multiple_local_recipients_each_get_one_copy(direct):
    srv, port = direct
    with smtp_from(port) as s:
        refused = s.sendmail("sender@remote.example",
                             ["alice@example.com", "AL@Example.COM", "bob@example.com"],
                             b"Subject: many\r\n\r\nfor everyone\r\n")
        assert refused == {}
    assert len(wait_messages(srv, "alice", 1)) == 1  # two addresses, one account, one copy
    assert len(wait_messages(srv, "bob", 1)) == 1
    event = srv.wait_event("delivered")
    assert event["rcpts"] == "3"
    assert set(event["accounts"].split(",")) == {"alice", "bob"}
    time.sleep(0.1)
    assert len(messages(srv, "alice")) == 1


def test_one_io_thread_serves_concurrent_deliveries(start_postern, secret):
    """server.io-threads = 1: deliveries from several sessions queue for the one thread and
    every one of them is answered and on disk."""
    port = free_port()
    srv = start_postern(config(listener("smtp", port), secret, server_extra="io-threads = 1"))
    sessions = [smtp_from(port) for _ in range(4)]
    try:
        for i, s in enumerate(sessions):
            s.ehlo("client.example")
            s.mail("sender@remote.example")
            s.rcpt("alice@example.com")
            s.putcmd("data")
            assert s.getreply()[0] == 354
            s.send(f"Subject: {i}\r\n\r\nbody {i}\r\n.\r\n".encode())
        assert [s.getreply()[0] for s in sessions] == [250] * 4
    finally:
        for s in sessions:
            s.close()
    assert len(wait_messages(srv, "alice", 4)) == 4


def test_postmaster_without_domain(direct):
    srv, port = direct
    assert send_raw(port, "Subject: pm\r\n\r\nhi\r\n.\r\n",
                    rcpts=("Postmaster",)).startswith("250 2.0.0 Ok: queued as ")
    assert len(wait_messages(srv, "carol", 1)) == 1


def test_relay_attempt_is_refused_and_counted(direct):
    srv, port = direct
    with Client(port, "127.0.0.4") as c:
        c.cmd("EHLO client.test")
        assert c.cmd("MAIL FROM:<spammer@remote.example>").startswith("250 2.1.0")
        assert c.cmd("RCPT TO:<victim@elsewhere.example>") == "554 5.7.1 relay access denied"
        assert c.cmd("RCPT TO:<nobody@example.com>").startswith("550 5.1.1")
        assert c.cmd("DATA") == "554 5.5.1 no valid recipients"
    event = srv.wait_event("relay_denied")
    assert event["rcpt"] == "victim@elsewhere.example"
    assert event["client"].startswith("127.0.0.4:")
    assert srv.wait_event("client_failure", kind="abuse")["client"].startswith("127.0.0.4:")
    assert messages(srv, "alice") == []


def test_auth_is_neither_offered_nor_accepted_in_plain_text(direct):
    srv, port = direct
    with Client(port) as c:
        assert "AUTH" not in c.cmd("EHLO client.test")
        assert c.cmd("AUTH PLAIN AGFsaWNlAGNvcnJlY3QgaG9yc2U=").startswith("538 5.7.11")
        assert c.cmd("AUTH LOGIN").startswith("538 5.7.11")
    assert not srv.events("smtp_auth")


def test_submission_listener_requires_auth(start_postern, secret):
    port = free_port()
    srv = start_postern(config(listener("submission", port, "submission = true\n"), secret))
    with Client(port) as c:
        c.cmd("EHLO client.test")
        assert c.cmd("MAIL FROM:<alice@example.com>") == "530 5.7.0 authentication required"
        assert c.cmd("RCPT TO:<bob@example.com>").startswith("503 5.5.1")


def test_pipelined_commands_are_answered_in_order(direct):
    srv, port = direct
    with Client(port) as c:
        c.send("EHLO client.test\r\nMAIL FROM:<s@remote.example>\r\nRCPT TO:<x@remote.example>\r\n"
               "RCPT TO:<bob@example.com>\r\nRCPT TO:<ghost@example.com>\r\nNOOP\r\nDATA\r\n")
        assert c.reply().startswith("250-mx.postern.test")
        assert c.reply().startswith("250 2.1.0")
        assert c.reply().startswith("554 5.7.1")
        assert c.reply().startswith("250 2.1.5")
        assert c.reply().startswith("550 5.1.1")
        assert c.reply().startswith("250 2.0.0")
        assert c.reply().startswith("354")
        c.send("Subject: p\r\n\r\npipelined\r\n.\r\nRSET\r\nQUIT\r\n")
        assert c.reply().startswith("250 2.0.0 Ok: queued as ")
        assert c.reply().startswith("250 2.0.0")
        assert c.reply().startswith("221 2.0.0")
    assert len(wait_messages(srv, "bob", 1)) == 1


def test_swaks_with_pipelining(direct):
    if not find_program("swaks"):
        pytest.skip("needs swaks")
    srv, port = direct
    proc = subprocess.run(["swaks", "--server", f"{HOST}:{port}", "-li", "127.0.0.2",
                           "--from", "sender@remote.example", "--to", "bob@example.com",
                           "--header", "Subject: via swaks", "--body", "swaks body",
                           "--pipeline", "--timeout", "10", "--helo", "swaks.test"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = wait_messages(srv, "bob", 1)
    assert len(found) == 1
    assert b"Subject: via swaks" in found[0] and b"swaks body" in found[0]
    assert received_header(found[0]).startswith("Received: from swaks.test ([127.0.0.2])")


def test_dot_stuffed_lines_are_restored(direct):
    srv, port = direct
    body = "Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n.\r\n"
    assert send_raw(port, body).startswith("250 2.0.0 Ok")
    msg = wait_messages(srv, "alice", 1)[0]
    assert msg.endswith(b"\r\n\r\n.leading dot\r\n..two dots\r\n")
    # smtplib stuffs dots itself; the stored message is what the user wrote.
    with smtp_from(port) as s:
        s.sendmail("s@remote.example", ["bob@example.com"], b"Subject: d\r\n\r\n.\r\n..\r\nend\r\n")
    assert wait_messages(srv, "bob", 1)[0].endswith(b"\r\n\r\n.\r\n..\r\nend\r\n")


def test_smuggled_end_of_data_is_not_honoured(direct):
    srv, port = direct
    # "\n.\n" and "\n.\r\n" are not the end of the data; the message is refused as a whole.
    body = ("Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<evil@x.example>\r\n"
            "RCPT TO:<bob@example.com>\r\n.\r\n")
    assert send_raw(port, body).startswith("550 5.6.0")
    time.sleep(0.2)
    assert messages(srv, "alice") == [] and messages(srv, "bob") == []


def test_bdat_chunks_across_reads(direct):
    srv, port = direct
    first = b"Subject: chunked\r\n\r\n.\r\nnot the end\r\n"
    second = b"binary \x00\xff\r\nend\r\n"
    with Client(port) as c:
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@remote.example> BODY=BINARYMIME")
        c.cmd("RCPT TO:<alice@example.com>")
        c.send(b"BDAT %d\r\n" % len(first) + first[:10])
        time.sleep(0.05)
        c.send(first[10:] + b"BDAT %d LAST\r\n" % len(second) + second + b"NOOP\r\n")
        assert c.reply() == f"250 2.0.0 {len(first)} octets received"
        assert c.reply().startswith("250 2.0.0 Ok: queued as ")
        assert c.reply().startswith("250 2.0.0")
        # DATA is refused for BINARYMIME; a BDAT without MAIL is drained, then refused.
        c.cmd("MAIL FROM:<s@remote.example> BODY=BINARYMIME")
        c.cmd("RCPT TO:<bob@example.com>")
        assert c.cmd("DATA").startswith("503 5.5.1")
        c.cmd("RSET")
        c.send("BDAT 6 LAST\r\nQUIT\r\n")  # the chunk is "QUIT\r\n": drained, not executed
        assert c.reply() == "503 5.5.1 send MAIL first"
        assert c.cmd("NOOP").startswith("250")
    msg = wait_messages(srv, "alice", 1)[0]
    assert msg.endswith(first + second)
    assert messages(srv, "bob") == []


def test_oversized_message_is_refused_with_552(direct):
    srv, port = direct
    with Client(port) as c:
        c.cmd("EHLO client.test")
        assert c.cmd(f"MAIL FROM:<s@remote.example> SIZE={SIZE_LIMIT + 1}").startswith(
            "552 5.3.4")
        assert c.cmd("MAIL FROM:<s@remote.example>").startswith("250")
        assert c.cmd("RCPT TO:<alice@example.com>").startswith("250")
        assert c.cmd("DATA").startswith("354")
        line = "x" * 98 + "\r\n"
        c.send("Subject: big\r\n\r\n" + line * (2 * SIZE_LIMIT // len(line)) + ".\r\n")
        assert c.reply().startswith("552 5.3.4")
        assert c.cmd("NOOP").startswith("250")  # the session goes on
        # BDAT over the limit: refused when the chunk passes it, then the transaction is gone.
        c.cmd("MAIL FROM:<s@remote.example>")
        c.cmd("RCPT TO:<alice@example.com>")
        c.send(b"BDAT %d\r\n" % (SIZE_LIMIT + 1) + b"y" * (SIZE_LIMIT + 1))
        assert c.reply().startswith("552 5.3.4")
        c.send("BDAT 3 LAST\r\nabc")
        assert c.reply() == "503 5.5.1 send MAIL first"
    event = srv.wait_event("message_too_large")
    assert event["limit"] == str(SIZE_LIMIT)
    time.sleep(0.2)
    assert messages(srv, "alice") == []


def test_delivery_failure_answers_451_and_leaves_no_copy(direct):
    srv, port = direct
    os.makedirs(os.path.join(srv.dir, "data"), exist_ok=True)
    with open(os.path.join(srv.dir, "data", "bob"), "w") as f:
        f.write("a file where bob's Maildir should be\n")
    reply = send_raw(port, "Subject: x\r\n\r\nhi\r\n.\r\n",
                     rcpts=("alice@example.com", "bob@example.com"))
    assert reply == "451 4.3.0 local delivery failed, try again later"
    event = srv.wait_event("delivery_failed")
    assert event["queue_id"] and event["error"]
    assert messages(srv, "alice") == []
    assert not srv.events("delivered")


def test_helo_and_smtputf8_messages(direct):
    srv, port = direct
    with Client(port) as c:
        c.cmd("HELO old.client.test")
        assert c.cmd("MAIL FROM:<s@remote.example> SIZE=10").startswith("555 5.5.4")
        assert c.cmd("MAIL FROM:<s@remote.example>").startswith("250")
        assert c.cmd("RCPT TO:<bob@example.com>").startswith("250")
        assert c.cmd("DATA").startswith("354")
        assert c.cmd("Subject: helo\r\n\r\nhi\r\n.").startswith("250 2.0.0 Ok")
        c.cmd("EHLO new.client.test")
        assert c.cmd("MAIL FROM:<j\u00fcrg@b\u00e4r.example> SMTPUTF8").startswith("250")
        assert c.cmd("RCPT TO:<alice@example.com>").startswith("250")
        assert c.cmd("DATA").startswith("354")
        c.send("Subject: Gr\u00fc\u00dfe\r\n\r\nUTF-8 \u2713\r\n.\r\n")
        assert c.reply().startswith("250 2.0.0 Ok")
    assert " with SMTP id " in received_header(wait_messages(srv, "bob", 1)[0])
    msg = wait_messages(srv, "alice", 1)[0]
    assert msg.endswith("Subject: Gr\u00fc\u00dfe\r\n\r\nUTF-8 \u2713\r\n".encode())
    assert any(e["from"] == "j\u00fcrg@b\u00e4r.example" for e in srv.events("delivered"))


def test_too_many_recipients_get_452(direct):
    srv, port = direct
    with Client(port) as c:
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@remote.example>")
        for i in range(MAX_RCPTS):
            assert c.cmd("RCPT TO:<alice@example.com>").startswith("250")
        assert c.cmd("RCPT TO:<bob@example.com>") == "452 4.5.3 too many recipients"
        assert c.cmd("DATA").startswith("354")
        assert c.cmd("Subject: x\r\n\r\nhi\r\n.").startswith("250 2.0.0 Ok")
    assert len(wait_messages(srv, "alice", 1)) == 1
    assert messages(srv, "bob") == []


def test_overlong_lines(direct):
    srv, port = direct
    with Client(port) as c:
        c.cmd("EHLO client.test")
        assert c.cmd("NOOP " + "x" * 600) == "500 5.5.2 line too long"
        # Longer than the server's input buffer: skipped to its end, then refused.
        assert c.cmd("NOOP " + "y" * 9000) == "500 5.5.2 line too long"
        assert c.cmd("NOOP").startswith("250")
        c.cmd("MAIL FROM:<s@remote.example>")
        c.cmd("RCPT TO:<alice@example.com>")
        c.cmd("DATA")
        c.send("Subject: long\r\n\r\n" + "z" * 999 + "\r\n.\r\n")
        assert c.reply().startswith("500 5.5.2")
        assert c.cmd("NOOP").startswith("250")
    time.sleep(0.2)
    assert messages(srv, "alice") == []


def test_error_limit_closes_with_421(direct):
    srv, port = direct
    with Client(port, "127.0.0.6") as c:
        for _ in range(MAX_ERRORS):
            assert c.cmd("BOGUS").startswith("500 5.5.1")
        assert c.cmd("BOGUS").startswith("500 5.5.1")
        assert c.reply() == "421 4.7.0 too many errors, closing connection"
        assert c.closed()
    assert srv.wait_event("smtp_error_limit")["errors"] == str(MAX_ERRORS + 1)


def test_commands_before_mail_are_limited(direct):
    srv, port = direct
    with Client(port) as c:
        c.cmd("EHLO client.test")
        for _ in range(MAX_COMMANDS - 1):
            assert c.cmd("NOOP").startswith("250")
        assert c.cmd("NOOP").startswith("421 4.7.0")
        assert c.closed()
    srv.wait_event("smtp_command_limit")


def test_misc_commands_and_sequence_errors(start_postern, secret):
    port = free_port()
    start_postern(config(listener("smtp", port), secret, errors=50))
    with Client(port) as c:
        assert c.cmd("MAIL FROM:<a@b.example>") == "503 5.5.1 send EHLO or HELO first"
        assert c.cmd("EHLO bad name") == "501 5.5.4 invalid host name"
        c.cmd("EHLO client.test")
        assert c.cmd("VRFY alice").startswith("252 2.5.0")
        assert c.cmd("HELP").startswith("214")
        assert c.cmd("RCPT TO:<alice@example.com>") == "503 5.5.1 send MAIL first"
        assert c.cmd("MAIL FROM:alice@example.com").startswith("501 5.1.7")
        assert c.cmd("MAIL FROM:<a@b.example> FOO=BAR").startswith("555 5.5.4")
        assert c.cmd("MAIL FROM:<j\u00fcrg@b.example>").startswith("553 5.6.7")
        assert c.cmd("MAIL FROM:<j\u00fcrg@b.example> SMTPUTF8").startswith("250")
        assert c.cmd("MAIL FROM:<a@b.example>") == "503 5.5.1 a mail transaction is in progress"
        assert c.cmd("RCPT TO:<>").startswith("501 5.1.3")
        assert c.cmd("RSET") == "250 2.0.0 ok"
        assert c.cmd("QUIT").startswith("221")


def test_untrusted_proxy_header_gets_554(start_postern, secret):
    port = free_port()
    srv = start_postern(config(listener("smtp-proxy", port, proxied()), secret))
    with Client(port, "127.0.0.5") as c:
        assert c.cmd("PROXY TCP4 203.0.113.9 127.0.0.1 4000 25").startswith("554 5.7.0")
        assert c.closed()
    srv.wait_event("proxy_untrusted")


# ---------------------------------------------------------------------------------------------
# Behind proxies

@pytest.fixture
def behind_proxy(start_postern, secret):
    """postern with a proxied listener and an assume-tls one: (server, plain, assume_tls)."""
    plain, secure = free_port(), free_port()
    srv = start_postern(config(
        listener("smtp-proxy", plain, proxied())
        + listener("smtp-proxy-tls", secure, proxied("proxy.assume-tls = true\n")), secret))
    return srv, plain, secure


def check_proxied_delivery(srv, front, account, name):
    with smtp_from(front, "127.0.0.2") as s:
        code, text = s.ehlo()
        assert b"Hello client.test [127.0.0.2]" in text
        assert b"AUTH" not in text
        s.sendmail("s@remote.example", [f"{account}@example.com"], f"Subject: {name}\r\n\r\nx\r\n")
    msg = wait_messages(srv, account, 1)[0]
    received = received_header(msg)
    assert received.startswith("Received: from client.test ([127.0.0.2])"), received
    assert f"(via proxy {PROXY_IP})" in received
    assert " with ESMTP id " in received
    event = srv.wait_event("delivered")
    assert event["client"].startswith("127.0.0.2:") and event["proxy"].startswith(PROXY_IP)


@pytest.mark.requires("haproxy")
def test_haproxy_v2_real_client_in_ehlo_and_received(behind_proxy, start_haproxy):
    srv, plain, _ = behind_proxy
    front = free_port()
    start_haproxy(haproxy_config(front, plain))
    check_proxied_delivery(srv, front, "alice", "haproxy")


@pytest.mark.requires("nginx-stream")
def test_nginx_v1_real_client_in_ehlo_and_received(behind_proxy, start_nginx):
    srv, plain, _ = behind_proxy
    front = free_port()
    start_nginx(nginx_config(front, plain))
    check_proxied_delivery(srv, front, "bob", "nginx")


@pytest.mark.requires("haproxy")
def test_relay_through_proxy_is_refused(behind_proxy, start_haproxy):
    srv, plain, _ = behind_proxy
    front = free_port()
    start_haproxy(haproxy_config(front, plain))
    with Client(front, "127.0.0.2") as c:
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@remote.example>")
        assert c.cmd("RCPT TO:<v@elsewhere.example>").startswith("554 5.7.1")
    event = srv.wait_event("relay_denied")
    assert event["client"].startswith("127.0.0.2:")


@pytest.mark.requires("haproxy")
def test_assume_tls_offers_auth_and_marks_esmtpsa(behind_proxy, start_haproxy):
    srv, _, secure = behind_proxy
    front = free_port()
    start_haproxy(haproxy_config(front, secure))
    with smtp_from(front, "127.0.0.2") as s:
        code, text = s.ehlo()
        assert b"AUTH PLAIN LOGIN" in text
        assert b"STARTTLS" not in text  # already secure at the proxy
        s.login("alice", PASSWORD)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            s.sendmail("alice@example.com", ["friend@elsewhere.example"], b"Subject: r\r\n\r\n")
        code, text = refused.value.recipients["friend@elsewhere.example"]
        assert code == 550 and b"5.7.1 relaying to remote domains is not supported yet" in text
        s.sendmail("alice@example.com", ["bob@example.com"], b"Subject: authed\r\n\r\nhi\r\n")
    received = received_header(wait_messages(srv, "bob", 1)[0])
    assert " with ESMTPSA id " in received
    assert "version=" not in received  # assumed TLS: version and cipher are unknown
    event = srv.wait_event("smtp_auth", result="ok")
    assert event["login"] == "alice" and event["mechanism"] == "PLAIN"
    assert PASSWORD not in srv.log()
    assert srv.wait_event("delivered")["login"] == "alice"


@pytest.mark.requires("haproxy")
def test_auth_login_and_cancel(behind_proxy, start_haproxy):
    srv, _, secure = behind_proxy
    front = free_port()
    start_haproxy(haproxy_config(front, secure))
    with Client(front, "127.0.0.2") as c:
        c.cmd("EHLO client.test")
        assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
        assert c.cmd("*") == "501 5.7.0 authentication cancelled"
        assert c.cmd("AUTH CRAM-MD5").startswith("504 5.5.4")
        assert c.cmd("AUTH PLAIN") == "334 "
        assert c.cmd("not base64!").startswith("501 5.5.2")
        assert c.cmd("AUTH LOGIN YWxpY2U=") == "334 UGFzc3dvcmQ6"  # initial response: alice
        import base64
        assert c.cmd(base64.b64encode(PASSWORD.encode()).decode()).startswith("235 2.7.0")
        assert c.cmd("AUTH PLAIN AGFsaWNlAHg=").startswith("503 5.5.1")
    event = srv.wait_event("smtp_auth", result="ok")
    assert event["mechanism"] == "LOGIN" and event["client"].startswith("127.0.0.2:")


@pytest.mark.requires("haproxy")
def test_swaks_auth_through_proxy(behind_proxy, start_haproxy):
    if not find_program("swaks"):
        pytest.skip("needs swaks")
    srv, _, secure = behind_proxy
    front = free_port()
    start_haproxy(haproxy_config(front, secure))
    proc = subprocess.run(["swaks", "--server", f"{HOST}:{front}", "-li", "127.0.0.2",
                           "--auth", "LOGIN", "--auth-user", "bob", "--auth-password", PASSWORD,
                           "--from", "bob@example.com", "--to", "alice@example.com",
                           "--body", "from bob", "--timeout", "10"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ESMTPSA" in received_header(wait_messages(srv, "alice", 1)[0])


@pytest.mark.requires("haproxy")
def test_failed_auth_is_logged_without_secrets(behind_proxy, start_haproxy):
    srv, _, secure = behind_proxy
    front = free_port()
    start_haproxy(haproxy_config(front, secure))
    with smtp_from(front, "127.0.0.2") as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            s.login("alice", "wrong password")
        assert failed.value.smtp_code == 535
    event = srv.wait_event("smtp_auth", result="failed")
    assert event["login"] == "alice"
    assert "wrong password" not in srv.log()
    assert srv.wait_event("client_failure", kind="auth")["client"].startswith("127.0.0.2:")


@pytest.mark.requires("haproxy")
def test_auth_failures_ban_the_real_client_only(start_postern, secret, start_haproxy):
    port, direct_port = free_port(), free_port()
    srv = start_postern(config(
        listener("smtp-proxy-tls", port, proxied("proxy.assume-tls = true\n"))
        + listener("smtp", direct_port), secret,
        server_extra='auto-ban.auth.rate = "3/10m"\nauto-ban.duration = "10m"\n'))
    front = free_port()
    start_haproxy(haproxy_config(front, port))
    with Client(front, "127.0.0.3") as c:
        c.cmd("EHLO attacker.test")
        for _ in range(2):
            assert c.cmd("AUTH PLAIN AGFsaWNlAHdyb25n").startswith("535 5.7.8")
        assert c.cmd("AUTH PLAIN AGFsaWNlAHdyb25n").startswith("535 5.7.8")
        assert c.reply().startswith("421 4.7.0")
        assert c.closed()
    # The banned client is refused at connect, through the same proxy.
    with Client(front, "127.0.0.3") as c:
        assert c.greeting[:3] in ("421", "554", ""), c.greeting
        assert not c.greeting.startswith("220")
    # Another client behind the same proxy is served, and so is the proxy's own address.
    with Client(front, "127.0.0.2") as c:
        assert c.greeting.startswith("220 ")
        assert "[127.0.0.2]" in c.cmd("EHLO client.test")
    with Client(direct_port, PROXY_IP) as c:
        assert c.greeting.startswith("220 ")
    assert srv.wait_event("client_banned", kind="auth")["client"].startswith("127.0.0.3:")
    assert all(e["client"].startswith("127.0.0.3:") for e in srv.events("client_banned"))
    assert not any(e.get("client", "").startswith(PROXY_IP + ":")
                   for e in srv.events("client_failure"))


# ---------------------------------------------------------------------------------------------
# STARTTLS (when the listener has TLS: the network core's certificate)

def test_starttls_resets_the_session_and_enables_auth(direct):
    srv, port = direct
    with smtp_from(port) as s:
        s.ehlo()
        if not s.has_extn("starttls"):
            pytest.skip("STARTTLS not offered on this build (no TLS in the core yet)")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        code, text = s.ehlo()
        assert code == 250 and b"AUTH PLAIN LOGIN" in text and b"STARTTLS" not in text
        s.login("carol", PASSWORD)
        s.sendmail("carol@example.org", ["alice@example.com"], b"Subject: tls\r\n\r\nsecret\r\n")
    received = received_header(wait_messages(srv, "alice", 1)[0])
    assert " with ESMTPSA id " in received and "(version=TLSv1." in received
    assert "cipher=" in received


def test_starttls_discards_pipelined_commands(direct):
    srv, port = direct
    with Client(port) as c:
        if "STARTTLS" not in c.cmd("EHLO client.test"):
            pytest.skip("STARTTLS not offered on this build")
        # Commands injected after STARTTLS in the same packet must never be executed.
        c.send("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\n")
        assert c.reply().startswith("220 2.0.0")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(c.sock, server_hostname="mx.postern.test")
        tls.sendall(b"MAIL FROM:<a@b.example>\r\n")
        assert tls.recv(4096).startswith(b"503 5.5.1 send EHLO or HELO first")
        tls.close()


@pytest.mark.requires("mbsync")
def test_maildir_is_readable_by_another_maildir_reader(direct, workdir):
    """mbsync (isync) reads postern's Maildir directly and copies every message and flag."""
    import shutil
    srv, port = direct
    for subject in ("first", "second", "third"):
        with smtplib.SMTP(HOST, port, timeout=10) as client:
            client.sendmail("someone@remote.example", ["alice@example.com"],
                            f"Subject: {subject}\r\n\r\nbody of {subject}\r\n")
    # mbsync keeps its own state inside the store it reads: give it a copy.
    source = workdir / "copy"
    shutil.copytree(os.path.join(srv.dir, "data", "alice"), source)
    first = sorted(os.listdir(source / "new"))[0]
    os.rename(source / "new" / first, source / "cur" / f"{first}:2,FS")  # what IMAP STORE does
    rc = workdir / "mbsyncrc"
    (workdir / "out").mkdir()
    rc.write_text(f"""MaildirStore postern
Inbox {source}
SubFolders Maildir++

MaildirStore copy
Path {workdir}/out/
Inbox {workdir}/out/INBOX

Channel check
Far :postern:
Near :copy:
Patterns INBOX
Create Near
Sync Pull
SyncState *
""")
    proc = subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    copied = []
    for sub in ("cur", "new"):
        for name in os.listdir(workdir / "out" / "INBOX" / sub):
            with open(workdir / "out" / "INBOX" / sub / name, "rb") as f:
                copied.append((name, f.read()))
    assert len(copied) == 3
    subjects = sorted(data.split(b"Subject: ")[1].split(b"\r\n")[0] for _, data in copied)
    assert subjects == [b"first", b"second", b"third"]
    flagged = [name for name, _ in copied if name.endswith(":2,FS")]
    assert len(flagged) == 1
    assert all(b"Received: from" in data for _, data in copied)
