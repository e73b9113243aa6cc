"""poplib client for pop3's interop tests.

    poplib_client.py MODE HOST PORT CAFILE OUTDIR

MODE is one of:
  stls-delete   STLS, USER/PASS, RETR and DELE every message, QUIT
  stls-keep     STLS, USER/PASS, RETR every message, QUIT
  implicit      implicit TLS (POP3_SSL), USER/PASS, RETR every message, QUIT
  drop          STLS, USER/PASS, DELE 1, then close without QUIT
  in-use        log in twice at once; the second must get -ERR [IN-USE]

Retrieved messages are written to OUTDIR/N.eml with CRLF line endings, as
poplib hands them over with dot-stuffing undone. OUTDIR/report.txt gets
the CAPA list, the LIST sizes, the octet counts poplib saw and the UIDLs.
"""
import os
import poplib
import ssl
import sys

mode, host, port, cafile, outdir = sys.argv[1:6]
port = int(port)
ctx = ssl.create_default_context(cafile=cafile)


def connect():
    if mode == "implicit":
        return poplib.POP3_SSL(host, port, context=ctx, timeout=60)
    p = poplib.POP3(host, port, timeout=60)
    caps = p.capa()
    assert "STLS" in caps, caps
    assert "USER" not in caps, "USER offered before TLS: %r" % caps
    p.stls(ctx)
    return p


p = connect()
caps = p.capa()
p.user("alice")
p.pass_("secret")

if mode == "drop":
    p.dele(1)
    p.sock.close()
    sys.exit(0)

if mode == "in-use":
    q = connect()
    q.user("alice")
    try:
        q.pass_("secret")
    except poplib.error_proto as e:
        print(e.args[0].decode())
    else:
        print("second login succeeded")
    q.quit()
    p.quit()
    sys.exit(0)

report = ["CAPA " + " ".join(sorted(caps))]
count, size = p.stat()
report.append("STAT %d %d" % (count, size))
_, listing, _ = p.list()
_, uidls, _ = p.uidl()
for i in range(1, count + 1):
    _, lines, octets = p.retr(i)
    with open(os.path.join(outdir, "%d.eml" % i), "wb") as f:
        f.write(b"".join(line + b"\r\n" for line in lines))
    report.append("RETR %d %d" % (i, octets))
    if mode == "stls-delete":
        p.dele(i)
for line in listing:
    report.append("LIST " + line.decode())
for line in uidls:
    report.append("UIDL " + line.decode())
p.quit()
with open(os.path.join(outdir, "report.txt"), "w") as f:
    f.write("\n".join(report) + "\n")
