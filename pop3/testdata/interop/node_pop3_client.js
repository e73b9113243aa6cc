// node-pop3 client for pop3's interop tests.
//
//     NODE_PATH=.../node_modules node node_pop3_client.js HOST PORT
//
// node-pop3 has no STLS, so it connects with implicit TLS (RFC 8314), with
// the certificate check off, and logs in as alice with USER/PASS. It runs
// STAT, LIST, UIDL, RETR of every listed message, DELE 2 and QUIT, and
// prints one line "RESULT {json}" with what each returned. RETR's text is
// as node-pop3 hands it over: as on the wire, dot-stuffed, without the
// CRLF before the terminating ".".
const Pop3Command = require('node-pop3');

const [host, port] = process.argv.slice(2);

(async () => {
	const pop3 = new Pop3Command({
		user: 'alice', password: 'secret', host, port: +port, tls: true, timeout: 60000,
		servername: 'pop.interop.test', tlsOptions: { rejectUnauthorized: false },
	});
	const stat = await pop3.STAT();
	const list = await pop3.LIST();
	const uidl = await pop3.UIDL();
	const retr = [];
	for (const [n] of list) retr.push(await pop3.RETR(n));
	const dele = await pop3.DELE(2);
	const quit = await pop3.QUIT();
	// Exit only once stdout is written: a pipe is written asynchronously.
	process.stdout.write('RESULT ' + JSON.stringify({ stat, list, uidl, retr, dele, quit }) + '\n', () => process.exit(0));
})().catch(e => { console.error('FAILED', e); process.exit(1); });
