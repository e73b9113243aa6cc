"""Python smtplib client driven by smtp/interop_test.go.

usage: python3 smtplib_client.py MODE HOST PORT CAFILE FROM TO[,TO...] < message

The message is read from stdin as bytes and handed to sendmail unchanged.
MODE is one of:

  plain          EHLO, sendmail
  starttls-auth  EHLO, STARTTLS (verifying the server with CAFILE),
                 login("alice", "secret"), sendmail
  smtputf8       EHLO, sendmail with SMTPUTF8 and BODY=8BITMIME
  auth-plain     EHLO, login("alice", "secret") without TLS; this must fail
                 with SMTPNotSupportedError because AUTH is not advertised
                 on plaintext. Prints the exception and exits 0 if so.

Any other outcome exits non-zero with a traceback.
"""

import smtplib
import ssl
import sys


def main():
    mode, host, port, cafile, sender, rcpts = sys.argv[1:7]
    rcpts = rcpts.split(",")
    msg = sys.stdin.buffer.read()
    with smtplib.SMTP(host, int(port), local_hostname="py.client.test", timeout=60) as s:
        s.ehlo()
        if mode == "auth-plain":
            try:
                s.login("alice", "secret")
            except smtplib.SMTPNotSupportedError as e:
                print("SMTPNotSupportedError:", e)
                return 0
            print("login without TLS unexpectedly succeeded", file=sys.stderr)
            return 1
        if mode == "starttls-auth":
            ctx = ssl.create_default_context(cafile=cafile)
            s.starttls(context=ctx)
            s.ehlo()
            s.login("alice", "secret")
        if mode == "smtputf8":
            for ext in ("smtputf8", "8bitmime"):
                if not s.has_extn(ext):
                    print("server does not advertise", ext, file=sys.stderr)
                    return 1
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        elif mode in ("plain", "starttls-auth"):
            options = []
        else:
            print("unknown mode", mode, file=sys.stderr)
            return 2
        refused = s.sendmail(sender, rcpts, msg, mail_options=options)
        if refused:
            print("refused:", refused, file=sys.stderr)
            return 1
    print("sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
