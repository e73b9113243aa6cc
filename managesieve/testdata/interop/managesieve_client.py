#!/usr/bin/env python3
"""A ManageSieve client (RFC 5804) over socket and ssl, for postyard's
interop tests. It checks the replies to bad scripts, quota and malformed
input, and leaves the store with "good" (active, "keep;\r\n") and "other"
("discard;\r\n").

Usage: managesieve_client.py host:port cafile user password

The server must offer STARTTLS, refuse authentication before it, and have
a script size limit of 2000 octets, a quota of 2 scripts of 1000 octets
each, and at least 20 bad commands allowed.
"""

import base64
import re
import socket
import ssl
import sys


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.f = sock.makefile("rb")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        line = self.f.readline(100000)
        if not line:
            raise EOFError("connection closed")
        if not line.endswith(b"\r\n"):
            raise AssertionError("line without CRLF: %r" % line)
        return line[:-2]

    def tokens(self):
        """Reads one logical line (literals included) as tokens."""
        toks = []
        line = self.readline()
        i = 0
        while i < len(line):
            c = line[i:i + 1]
            if c == b" ":
                i += 1
            elif c == b'"':
                j, s = i + 1, b""
                while line[j:j + 1] != b'"':
                    if j >= len(line):
                        raise AssertionError("unterminated quoted string: %r" % line)
                    if line[j:j + 1] == b"\\":
                        j += 1
                    s += line[j:j + 1]
                    j += 1
                toks.append(("str", s))
                i = j + 1
            elif c == b"{" and re.fullmatch(rb"\{\d+\+?\}", line[i:]):
                n = int(line[i + 1:-1].rstrip(b"+"))
                data = self.f.read(n)
                if len(data) != n:
                    raise EOFError("short literal")
                toks.append(("str", data))
                line, i = self.readline(), 0
            elif c in (b"(", b")"):
                toks.append((c.decode(), None))
                i += 1
            else:
                j = i
                while j < len(line) and line[j:j + 1] not in b' ()"':
                    j += 1
                toks.append(("atom", line[i:j]))
                i = j
        return toks

    def response(self):
        """Reads data lines up to OK/NO/BYE. Returns (data, kind, code, text)."""
        data = []
        while True:
            toks = self.tokens()
            if toks and toks[0][0] == "atom" and toks[0][1].upper() in (b"OK", b"NO", b"BYE"):
                kind = toks[0][1].upper().decode()
                rest = toks[1:]
                code = []
                if rest and rest[0][0] == "(":
                    end = rest.index((")", None))
                    code = [v for _, v in rest[1:end]]
                    rest = rest[end + 1:]
                text = rest[0][1] if rest else b""
                return data, kind, code, text
            data.append(toks)

    def cmd(self, line, kind, code=None, text=None):
        self.send(line if isinstance(line, bytes) else line.encode())
        data, k, c, t = self.response()
        shown = line if len(line) < 80 else line[:80] + (b"..." if isinstance(line, bytes) else "...")
        if k != kind or (code is not None and c[:1] != [code]) or (text is not None and text not in t):
            raise AssertionError("%r: got %s %r %r, want %s %r containing %r" % (shown, k, c, t, kind, code, text))
        print("ok: %r -> %s %s %r" % (shown, k, b" ".join(x for x in c if x).decode(errors="replace"), t[:60]))
        return data, c, t


def literal(s):
    b = s.encode() if isinstance(s, str) else s
    return b"{%d+}\r\n" % len(b) + b


def caps(data):
    return {t[0][1].decode(): (t[1][1].decode() if len(t) > 1 else "") for t in data}


def main():
    addr, cafile, user, password = sys.argv[1:5]
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    c = Conn(sock)

    data, kind, _, _ = c.response()
    assert kind == "OK", kind
    greeting = caps(data)
    assert "STARTTLS" in greeting and greeting["SASL"] == "", greeting
    assert greeting["VERSION"] == "1.0", greeting
    assert "fileinto" in greeting["SIEVE"].split(), greeting

    plain = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    c.cmd('AUTHENTICATE "PLAIN" "%s"\r\n' % plain, "NO", b"ENCRYPT-NEEDED")
    c.cmd("LISTSCRIPTS\r\n", "NO")

    c.cmd("STARTTLS\r\n", "OK")
    ctx = ssl.create_default_context(cafile=cafile)
    sock = ctx.wrap_socket(sock, server_hostname=host)
    c = Conn(sock)
    data, kind, _, _ = c.response()
    assert kind == "OK", kind
    after = caps(data)
    assert "PLAIN" in after["SASL"].split() and "STARTTLS" not in after, after

    c.cmd(b'AUTHENTICATE "PLAIN" ' + literal(base64.b64encode(b"\0" + user.encode() + b"\0wrong")) + b"\r\n", "NO")
    c.cmd(b'AUTHENTICATE "PLAIN" ' + literal(plain) + b"\r\n", "OK")
    data, _, _ = c.cmd("CAPABILITY\r\n", "OK")
    assert caps(data)["OWNER"] == user, data

    # Bad scripts: the reply names the line.
    bad = 'require "fileinto";\r\nif true {\r\n  fileinot "x";\r\n}\r\n'
    c.cmd(b'PUTSCRIPT "bad" ' + literal(bad) + b"\r\n", "NO", None, b"line 3")
    _, _, t = c.cmd(b"CHECKSCRIPT " + literal("foo;\r\nbar;\r\n") + b"\r\n", "NO", None, b"line 1")
    assert b"line 2" in t, t
    c.cmd(b'CHECKSCRIPT "if true {"\r\n', "NO", None, b"line 1")

    # Good scripts.
    c.cmd(b'PUTSCRIPT "good" ' + literal("keep;\r\n") + b"\r\n", "OK")
    c.cmd(b'SETACTIVE "good"\r\n', "OK")

    # Quota.
    c.cmd(b'HAVESPACE "x" 5000\r\n', "NO", b"QUOTA/MAXSIZE")
    c.cmd(b'HAVESPACE "x" 1001\r\n', "NO", b"QUOTA/MAXSIZE")
    c.cmd(b'HAVESPACE "x" 1000\r\n', "OK")
    c.cmd(b'PUTSCRIPT "big" ' + literal("#" * 1001) + b"\r\n", "NO", b"QUOTA/MAXSIZE")
    c.cmd(b'PUTSCRIPT "huge" ' + literal("#" * 2001) + b"\r\n", "NO", b"QUOTA/MAXSIZE")
    c.cmd(b'PUTSCRIPT "other" ' + literal("discard;\r\n") + b"\r\n", "OK")
    c.cmd(b'PUTSCRIPT "third" "keep;"\r\n', "NO", b"QUOTA/MAXSCRIPTS")

    # Script errors.
    c.cmd(b'DELETESCRIPT "good"\r\n', "NO", b"ACTIVE")
    c.cmd(b'GETSCRIPT "nope"\r\n', "NO", b"NONEXISTENT")
    c.cmd(b'RENAMESCRIPT "good" "other"\r\n', "NO", b"ALREADYEXISTS")
    c.cmd(b'PUTSCRIPT "a/b" "keep;"\r\n', "NO")

    # Malformed input.
    for line in [b"FOO\r\n", b'GETSCRIPT "unterminated\r\n', b"PUTSCRIPT {x}\r\n",
                 b'HAVESPACE "a" 99999999999\r\n', b"\x00\xff\xfe\r\n", b'GETSCRIPT "a\\q"\r\n',
                 b"LISTSCRIPTS extra\r\n", b'PUTSCRIPT "a" {3+}\r\nabc trailing\r\n',
                 b"X" * 10000 + b"\r\n"]:
        c.cmd(line, "NO")

    # Still serving.
    c.cmd(b'NOOP "sync-1"\r\n', "OK", b"TAG")
    data, _, _ = c.cmd(b'GETSCRIPT "good"\r\n', "OK")
    assert data == [[("str", b"keep;\r\n")]], data
    data, _, _ = c.cmd(b"LISTSCRIPTS\r\n", "OK")
    listed = sorted((t[0][1], len(t) > 1 and t[1][1] == b"ACTIVE") for t in data)
    assert listed == [(b"good", True), (b"other", False)], listed
    c.cmd(b"LOGOUT\r\n", "OK")
    assert c.f.read() == b"", "data after LOGOUT"
    print("all checks passed")


if __name__ == "__main__":
    main()
