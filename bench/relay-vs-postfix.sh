#!/usr/bin/env bash
# Relay throughput, postyard beside Postfix in one run (issue 9):
#   smtp-source (16 sessions, 4 KiB) → relay (trusted network, durable queue)
#   → smtp-sink, timed until the relay's queue is empty.
# Postfix: a private instance in a scratch folder (never the system one),
# relaying everything to smtp-sink. postyard: BenchmarkRelayEndToEnd
# (smtp.Server + relay.Inbound → filequeue → relay.Deliverer → smtp-sink).
#
#   bench/relay-vs-postfix.sh [MESSAGES]      (run as root, from the repo)
set -euo pipefail
N=${1:-5000}
cd "$(dirname "$0")/.."
S=$(mktemp -d /tmp/relaybench.XXXXXX)
chmod 755 "$S"
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

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
/usr/sbin/smtp-source -s 16 -m "$N" -l 4096 -f sender@bench.test -t rcpt@example.test 127.0.0.1:$PFPORT
intake=$(date +%s.%N)
until /usr/sbin/postqueue -c "$PF/etc" -p 2>/dev/null | grep -q "Mail queue is empty"; do sleep 0.1; done
end=$(date +%s.%N)
pf=$(echo "$N / ($end - $start)" | bc -l)
printf 'postfix: %d messages, %.0f msg/s end to end, %.0f msg/s intake\n' "$N" "$pf" "$(echo "$N / ($intake - $start)" | bc -l)"

out=$(go test -run '^$' -bench RelayEndToEnd -benchtime "${N}x" -count 1 ./relay/ | grep '^BenchmarkRelayEndToEnd')
ours=$(echo "$out" | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "msg/s") print $i}')
echo "postyard: $out"
printf 'ratio postyard / postfix: %.2f\n' "$(echo "$ours / $pf" | bc -l)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
