#!/usr/bin/env bash
# LMTP delivery with Sieve, postyard beside Dovecot in one run (issue 13):
#   the same 100-rule script, the same messages (bench/sievelmtp), the same
#   concurrency, into Maildir:
#   - dovecot: a private Dovecot LMTP (dovecot-lmtpd + dovecot-sieve) on a
#     loopback port, config and mail in a scratch folder, the script as
#     every user's personal script (precompiled with sievec);
#   - postyard: bench/sievelmtp serve (relay.Inbound + relay.Sieve into a
#     maildir.Store), with the script;
#   - nosieve: the same without a script.
#
#   bench/sieve-vs-dovecot.sh [MESSAGES [ROUNDS [CONNS]]]   (root, from the repo)
#
# Each round runs the three in rotating order and prints, for each, the
# rate and the server CPU time per message (Dovecot: its master with every
# process it started; postyard: the server process; the load client is
# not counted), with the load average before the round. CPU per message is
# what other load on a shared machine disturbs least. Medians follow.
set -euo pipefail
N=${1:-2000}
ROUNDS=${2:-3}
CONNS=${3:-4}
USERS=4
cd "$(dirname "$0")/.."
for b in /usr/sbin/dovecot /usr/lib/dovecot/lmtp /usr/bin/sievec; do
	[[ -x $b ]] || { echo "$b missing: apt-get install dovecot-lmtpd dovecot-sieve" >&2; exit 1; }
done
S=$(mktemp -d /tmp/sievebench.XXXXXX)
chmod 755 "$S"
go build -o "$S/sievelmtp" ./bench/sievelmtp
DPORT=2724 OPORT=2725 NPORT=2726
D=$S/dovecot
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -f $D/run/master.pid ]] && kill "$(cat "$D/run/master.pid")" 2>/dev/null || true
	sleep 0.5
	rm -rf "$S"
}
trap cleanup EXIT

# The script and Dovecot's private instance. Mail belongs to nobody.
UID_=65534 GID_=65534
mkdir -p "$D/run" "$D/state" "$D/home" "$D/sieve"
"$S/sievelmtp" script -rules 100 >"$D/sieve/rules.sieve"
: >"$D/passwd"
for i in $(seq 0 $((USERS - 1))); do
	mkdir -p "$D/home/user$i"
	printf 'user%d@bench.test::%d:%d::%s::\n' "$i" "$UID_" "$GID_" "$D/home/user$i" >>"$D/passwd"
done
chown -R "$UID_:$GID_" "$D/home" "$D/sieve"
cat >"$D/dovecot.conf" <<CF
protocols = lmtp
listen = 127.0.0.1
base_dir = $D/run
state_dir = $D/state
instance_name = sievebench
log_path = $D/dovecot.log
ssl = no
first_valid_uid = 1
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = $D/passwd
}
userdb {
  driver = passwd-file
  args = $D/passwd
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DPORT
  }
  unix_listener lmtp {
    mode = 0
  }
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
  postmaster_address = postmaster@bench.test
}
plugin {
  sieve = file:$D/sieve;active=$D/sieve/rules.sieve
}
CF
sievec "$D/sieve/rules.sieve"
chown "$UID_:$GID_" "$D/sieve/"*
/usr/sbin/dovecot -c "$D/dovecot.conf"

"$S/sievelmtp" serve -addr 127.0.0.1:$OPORT -maildir "$S/ours" -script "$D/sieve/rules.sieve" & PIDS+=($!)
OURS=$!
"$S/sievelmtp" serve -addr 127.0.0.1:$NPORT -maildir "$S/nosieve" & PIDS+=($!)
NOS=$!
for p in $DPORT $OPORT $NPORT; do
	for _ in $(seq 100); do ss -ltnH "sport = :$p" | grep -q . && break; sleep 0.1; done
done

# ticks PID [tree]: CPU time (1/100 s) used so far by PID, with the
# children it reaped, and with tree, by its live descendants too.
ticks() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v m="$1" -v tree="${2:-}" '
	{ pid = $1; line = $0; sub(/^[0-9]+ \(.*\) /, "", line); split(line, f, " ")
	  ppid[pid] = f[2]; t[pid] = f[12] + f[13] + f[14] + f[15] }
	END {
	  for (p in t) { q = p; while (q != "" && q != 0 && q != m && q in ppid) q = ppid[q]
	    if (p == m || (tree != "" && q == m)) s += t[p] }
	  print s + 0 }'
}

OFFSET=0
COVER= MATCH=30
run() { # NAME PORT PID TREE → "rate cpu-µs/msg"
	local t0 t1 out done secs rate failed
	t0=$(ticks "$3" "$4")
	out=$("$S/sievelmtp" load -addr 127.0.0.1:$2 -n "$N" -c "$CONNS" -users $USERS -offset $OFFSET -match $MATCH $COVER)
	t1=$(ticks "$3" "$4")
	read -r done secs rate failed <<<"$out"
	((failed == 0)) || echo "$1: $failed messages refused" >&2
	echo "$rate $(echo "($t1 - $t0) * 10000 / $done" | bc -l)"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

one() { # NAME: run it, print and record a line
	local res rate cpu
	case $1 in
	dovecot) res=$(run dovecot $DPORT "$(cat "$D/run/master.pid")" tree) ;;
	postyard*) res=$(run "$1" $OPORT $OURS "") ;;
	nosieve*) res=$(run "$1" $NPORT $NOS "") ;;
	esac
	read -r rate cpu <<<"$res"
	printf '  %-16s %7.0f msg/s %7.0f cpu-µs/msg\n' "$1" "$rate" "$cpu"
	echo "$1 $rate $cpu" >>"$S/r"
}

# Warm up each: the first deliveries create every folder of every user.
OFFSET=0 N0=$N N=$((USERS * 100)) COVER=-cover
run dovecot $DPORT "$(cat "$D/run/master.pid")" tree >/dev/null
run postyard $OPORT $OURS "" >/dev/null
run nosieve $NPORT $NOS "" >/dev/null
N=$N0 COVER=
: >"$S/r"
# A: the message mix (30% filed by a rule), all three servers.
# B: no message matches (every message runs through all 100 rules into
#    INBOX), postyard with and without the script: the cost of Sieve
#    itself, without the cost of filing into other Maildir folders.
A=(dovecot postyard nosieve)
B=(postyard-nomatch nosieve-nomatch)
for r in $(seq "$ROUNDS"); do
	echo "round $r, load: $(cut -d' ' -f1-3 /proc/loadavg)"
	OFFSET=$((r * N)) MATCH=30
	for k in 0 1 2; do one "${A[$(((k + r) % 3))]}"; done
	MATCH=0
	for k in 0 1; do one "${B[$(((k + r) % 2))]}"; done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
med() { awk -v n="$1" -v f="$2" '$1 == n {print $f}' "$S/r" | median; }
for name in "${A[@]}" "${B[@]}"; do
	printf 'median %-16s %7.0f msg/s %7.0f cpu-µs/msg\n' "$name" "$(med "$name" 2)" "$(med "$name" 3)"
done
printf 'A (30%% filed): postyard / dovecot %.2fx the rate, %.2fx less CPU per message; postyard with / without the script %+.0f%% CPU per message\n' \
	"$(echo "$(med postyard 2) / $(med dovecot 2)" | bc -l)" "$(echo "$(med dovecot 3) / $(med postyard 3)" | bc -l)" \
	"$(echo "($(med postyard 3) - $(med nosieve 3)) * 100 / $(med nosieve 3)" | bc -l)"
printf 'B (none filed): postyard with / without the script %+.0f%% CPU per message\n' \
	"$(echo "($(med postyard-nomatch 3) - $(med nosieve-nomatch 3)) * 100 / $(med nosieve-nomatch 3)" | bc -l)"
# Both filed the same: count user0's folders and the messages in them.
printf 'user0 folders (messages outside INBOX): dovecot %d (%d), postyard %d (%d)\n' \
	"$(find "$D/home/user0/Maildir" -mindepth 1 -maxdepth 1 -name '.*' -type d | wc -l)" \
	"$(find "$D/home/user0/Maildir"/.* -type f \( -path '*/new/*' -o -path '*/cur/*' \) 2>/dev/null | wc -l)" \
	"$(find "$S/ours/user0" -mindepth 1 -maxdepth 1 -name '.*' -type d | wc -l)" \
	"$(find "$S/ours/user0"/.* -type f \( -path '*/new/*' -o -path '*/cur/*' \) 2>/dev/null | wc -l)"
grep -i -E 'error|fatal|panic' "$D/dovecot.log" | head -5 >&2 || true
