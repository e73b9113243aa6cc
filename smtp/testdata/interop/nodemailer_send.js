// nodemailer client driven by smtp/interop_test.go.
//
// usage: NODE_PATH=.../node_modules node nodemailer_send.js HOST PORT
//
// It connects without TLS, requires STARTTLS (not verifying the self-signed
// certificate), authenticates as alice/secret, and sends one message with a
// text part and a text attachment, asking for DSNs (RFC 3461). It prints the
// result as JSON.
'use strict';

const nodemailer = require('nodemailer');

async function main() {
  const [host, port] = process.argv.slice(2);
  const transport = nodemailer.createTransport({
    host,
    port: Number(port),
    secure: false,
    requireTLS: true,
    name: 'node.client.test',
    tls: { rejectUnauthorized: false },
    auth: { user: 'alice', pass: 'secret' },
    connectionTimeout: 30000,
    greetingTimeout: 30000,
    socketTimeout: 60000,
  });
  const info = await transport.sendMail({
    from: 'Node Sender <node@client.test>',
    to: 'rcpt@example.org',
    subject: 'nodemailer interop',
    text: 'Hello from nodemailer.\nSecond line.\n',
    attachments: [
      { filename: 'report.txt', content: 'attachment body\n', contentType: 'text/plain' },
    ],
    dsn: { id: 'node+env=1', return: 'headers', notify: ['failure', 'delay'], recipient: 'orig@example.org' },
  });
  console.log(JSON.stringify({ envelope: info.envelope, accepted: info.accepted, rejected: info.rejected, response: info.response }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
