#!/usr/bin/env bash
# Relay throughput, postyard beside Postfix in one run (issue 9):
#   smtp-source (16 sessions, 4 KiB) → relay (trusted network, durable queue)
#   → smtp-sink, timed until the relay's queue is empty.
# Postfix: a private instance in a scratch folder (never the system one),
# relaying everything to smtp-sink. postyard: BenchmarkRelayEndToEnd
# (smtp.Server + relay.Inbound → filequeue → relay.Deliverer → smtp-sink).
#
#   bench/relay-vs-postfix.sh [MESSAGES [ROUNDS]]   (run as root, from the repo)
#
# Each round runs both, in alternating order, and prints their rates and
# ratio with the load average before it, and the CPU time each relay
# used per message (Postfix: its master and every process it started;
# postyard: the test process; smtp-source and smtp-sink are not counted),
# which other load on the machine disturbs less than the rates; with more
# than one round the medians follow. The test binary is built before the
# first round, so that no compilation runs beside the measurements.
set -euo pipefail
N=${1:-5000}
ROUNDS=${2:-1}
cd "$(dirname "$0")/.."
S=$(mktemp -d /tmp/relaybench.XXXXXX)
chmod 755 "$S"
go test -c -o "$S/relay.test" ./relay/
PF=$S/postfix SINKPORT=2625 PFPORT=2627
cleanup() {
	/usr/sbin/postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
	[[ -n ${SINKPID:-} ]] && kill "$SINKPID" 2>/dev/null || true
	rm -rf "$S"
}
trap cleanup EXIT

mkdir -p "$PF/etc" "$PF/spool" "$PF/data"
chown postfix "$PF/data"
cat >"$PF/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = $PF
maillog_file = $PF/maillog
myhostname = relay.bench.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
relayhost = [127.0.0.1]:$SINKPORT
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
default_destination_concurrency_limit = 32
smtp_tls_security_level = none
biff = no
CF
cat >"$PF/etc/master.cf" <<CF
127.0.0.1:$PFPORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
/usr/sbin/smtp-sink -u nobody -m 256 127.0.0.1:$SINKPORT 256 & SINKPID=$!
/usr/sbin/postfix -c "$PF/etc" check >/dev/null 2>&1 || true
/usr/sbin/postfix -c "$PF/etc" start >/dev/null 2>&1 || { cat "$PF/maillog" 2>/dev/null | tail -20; /usr/sbin/postfix -c "$PF/etc" start; }
sleep 2

# pf_ticks prints the CPU time (1/100 s) used so far by Postfix: its
# master with the children it has reaped, and its live children.
pf_ticks() {
	local master
	master=$(tr -d ' \n' <"$PF/spool/pid/master.pid")
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v m="$master" '{
		pid = $1
		sub(/^[0-9]+ \(.*\) /, "")    # pid and command
		if (pid == m || $2 == m) t += $12 + $13 + $14 + $15
	} END {print t + 0}'
}

# postfix_run prints Postfix's end-to-end rate (msg/s) for N messages.
postfix_run() {
	local start intake end cpu0 cpu1
	cpu0=$(pf_ticks)
	start=$(date +%s.%N)
	/usr/sbin/smtp-source -s 16 -m "$N" -l 4096 -f sender@bench.test -t rcpt@example.test 127.0.0.1:$PFPORT
	intake=$(date +%s.%N)
	until /usr/sbin/postqueue -c "$PF/etc" -p 2>/dev/null | grep -q "Mail queue is empty"; do sleep 0.1; done
	end=$(date +%s.%N)
	cpu1=$(pf_ticks)
	printf 'postfix:  %d messages, %.0f msg/s end to end, %.0f msg/s intake, %.0f cpu-µs/msg\n' "$N" \
		"$(echo "$N / ($end - $start)" | bc -l)" "$(echo "$N / ($intake - $start)" | bc -l)" \
		"$(echo "($cpu1 - $cpu0) * 10000 / $N" | bc -l)" >&2
	echo "$N / ($end - $start)" | bc -l
}

# postyard_run prints postyard's end-to-end rate (msg/s) for N messages.
postyard_run() {
	local out
	out=$(cd "$S" && ./relay.test -test.run '^$' -test.bench RelayEndToEnd -test.benchtime "${N}x" | grep '^BenchmarkRelayEndToEnd')
	echo "postyard: $out" >&2
	echo "$out" | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "msg/s") print $i}'
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

: >"$S/pf" >"$S/py" >"$S/ratio"
for r in $(seq "$ROUNDS"); do
	echo "round $r, load: $(cut -d' ' -f1-3 /proc/loadavg)"
	if ((r % 2)); then
		pf=$(postfix_run)
		ours=$(postyard_run)
	else
		ours=$(postyard_run)
		pf=$(postfix_run)
	fi
	echo "$pf" >>"$S/pf"
	echo "$ours" >>"$S/py"
	echo "$ours / $pf" | bc -l >>"$S/ratio"
	printf 'ratio postyard / postfix: %.2f\n' "$(echo "$ours / $pf" | bc -l)"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((ROUNDS > 1)); then
	printf 'medians of %d rounds: postfix %.0f msg/s, postyard %.0f msg/s, ratio %.2f (of the medians %.2f)\n' "$ROUNDS" \
		"$(median <"$S/pf")" "$(median <"$S/py")" "$(median <"$S/ratio")" "$(echo "$(median <"$S/py") / $(median <"$S/pf")" | bc -l)"
fi
