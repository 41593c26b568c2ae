#!/usr/bin/env bash
# The mail benchmark (issue 13), in one run: MESSAGES messages with one 1 KiB CSV order
# attachment each, sent one after the other over one SMTP session by a Python smtplib client,
#  1. to freightdrop's SMTP listener (release build, SQLite): messages/s up to the last 250 and
#     up to the last file in done/, p50/p99 from each 250 to its file showing up in done/ (a 1 ms
#     poll of the oldest pending names), and the server's CPU seconds (utime+stime from /proc);
#  2. to a private Postfix instance on loopback delivering to a Maildir (virtual(8)) on the same
#     machine: the by-hand ceiling, measured the same way (250 -> the message in Maildir/new/),
#     CPU of all its processes (the master's process group plus the children it reaped).
# Repeated RUNS times; prints every run and the medians. Needs root (Postfix) and the packages
# scripts/setup installs. Usage: bench/mail.sh [MESSAGES] [RUNS]. Honours CARGO_TARGET_DIR;
# FREIGHTDROP_BIN=path skips the release build (e.g. a quick check with a debug binary).
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-1000}
runs=${2:-3}
target=${CARGO_TARGET_DIR:-target}
[[ $target == /* ]] || target=$PWD/$target
command -v postfix >/dev/null && command -v swaks >/dev/null || scripts/setup
if [ -z "${FREIGHTDROP_BIN:-}" ]; then
  cargo build --release --quiet --bin freightdrop -p freightdrop
fi
bin=${FREIGHTDROP_BIN:-$target/release/freightdrop}
work=$(mktemp -d /tmp/freightdrop-mailbench.XXXXXX)
chmod 755 "$work" # Postfix's daemons run as the postfix user
server_pid=
postfix_dir=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$postfix_dir" ]; then
    local master
    master=$(cat "$postfix_dir/queue/pid/master.pid" 2>/dev/null | tr -d ' ' || true)
    timeout 30 postfix -c "$postfix_dir" stop >/dev/null 2>&1 || true
    if [ -n "$master" ]; then
      for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$master" 2>/dev/null || true
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# CPU seconds of one process (threads included), or of a process group plus its reaped children.
cpu_of_pid() { awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat"; }
cpu_of_group() {
  local leader=$1
  python3 - "$leader" "$(getconf CLK_TCK)" <<'PY'
import os, sys
leader, tick = int(sys.argv[1]), int(sys.argv[2])
total = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    # fields[0] is the state; pgrp is fields[2]; utime, stime, cutime, cstime are fields[11:15].
    if int(fields[2]) != leader:
        continue
    total += int(fields[11]) + int(fields[12])
    if int(pid) == leader:
        total += int(fields[13]) + int(fields[14])
print(total / tick)
PY
}

cat >"$work/client.py" <<'PY'
# Sends N messages, one 1 KiB CSV attachment each, over one SMTP session; records when each
# 250 came and when its file showed up (done/ of freightdrop, by name; Maildir/new/ of Postfix,
# by the Subject read from the new file). Prints one line of figures.
import os, smtplib, sys, threading, time
from email.message import EmailMessage
port, n, to, where, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
header = "customerID;shipmentID;deliveryName;deliveryCity;colli;packing;weight\n"
def csv(i):
    text, k = header, 0
    while len(text) < 1000:
        text += f"1234;M{i}-{k};Philips;Deventer;1;carton;10\n"
        k += 1
    return text.encode()
msgs = []
for i in range(n):
    m = EmailMessage()
    m["From"] = "orders@partner.example"
    m["To"] = to
    m["Subject"] = f"m{i:05d}"
    m["Message-ID"] = f"<m{i:05d}.{os.getpid()}@partner.example>"
    m.set_content("see attached")
    m.add_attachment(csv(i), maintype="text", subtype="csv", filename=f"m{i:05d}.csv")
    msgs.append(m.as_bytes())
acked, seen, pending, stop = {}, {}, [], False
lock = threading.Lock()
def watch_done():
    # Each 1 ms tick looks for the oldest few pending names only (2 shared cores).
    while not stop:
        now = time.monotonic()
        with lock:
            head = pending[:16]
        for i in head:
            if os.path.exists(os.path.join(where, f"m{i:05d}.csv")):
                seen[i] = now
                with lock:
                    pending.remove(i)
        time.sleep(0.001)
def watch_maildir():
    known = set()
    while not stop:
        now = time.monotonic()
        try:
            names = os.listdir(where)
        except FileNotFoundError:
            names = []
        for name in names:
            if name in known:
                continue
            known.add(name)
            with open(os.path.join(where, name), "rb") as f:
                head = f.read(4096)
            at = head.find(b"\nSubject: m")
            if at >= 0:
                seen[int(head[at + 11:at + 16])] = now
        time.sleep(0.001)
watcher = threading.Thread(target=watch_done if kind == "done" else watch_maildir)
watcher.start()
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo()
start = time.monotonic()
for i, raw in enumerate(msgs):
    refused = s.sendmail("orders@partner.example", [to], raw)
    assert not refused, refused
    acked[i] = time.monotonic()
    with lock:
        pending.append(i)
last_ack = time.monotonic()
s.quit()
deadline = time.monotonic() + 300
while len(seen) < n and time.monotonic() < deadline:
    time.sleep(0.01)
stop = True
watcher.join()
lat = sorted((seen[i] - acked[i]) * 1000 for i in acked if i in seen)
def pick(q):
    return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
last_seen = max(seen.values()) if seen else float("nan")
print(f"arrived={len(seen)} accept_per_s={n / (last_ack - start):.1f} "
      f"all_per_s={n / (last_seen - start):.1f} p50_ms={pick(0.5):.1f} p99_ms={pick(0.99):.1f}")
PY

results="$work/results"
: >"$results"
for run in $(seq 1 "$runs"); do
  echo "== run $run of $runs: $messages messages to freightdrop over SMTP" >&2
  fd="$work/fd$run"
  mkdir -p "$fd"
  export FREIGHTDROP_DATA_DIR="$fd/data" FREIGHTDROP_CERTS_DIR="$fd/certs"
  export FREIGHTDROP_DATABASE_URL="sqlite://$fd/data/freightdrop.db"
  echo 'bench-password-1' | "$bin" user add bench --customer 1234 --protocols mail --password-stdin >/dev/null
  RUST_LOG=warn "$bin" serve --ftp-addr 127.0.0.1:0 --sftp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
    --smtp-addr 127.0.0.1:0 --mail-domain orders.example >"$fd/serve.out" 2>"$fd/serve.err" &
  server_pid=$!
  for _ in $(seq 1 300); do grep -q 'freightdrop: ready' "$fd/serve.out" 2>/dev/null && break; sleep 0.1; done
  grep -q 'freightdrop: ready' "$fd/serve.out" || { cat "$fd/serve.err" >&2; exit 1; }
  port=$(sed -n 's/^freightdrop: smtp listening on .*:\([0-9]*\)$/\1/p' "$fd/serve.out")
  cpu0=$(cpu_of_pid "$server_pid")
  line=$(python3 "$work/client.py" "$port" "$messages" edi+bench@orders.example "$fd/data/homes/bench/done" done)
  cpu1=$(cpu_of_pid "$server_pid")
  errors=$(find "$fd/data/homes/bench/error" -type f ! -name '*.error.txt' 2>/dev/null | wc -l)
  echo "$run freightdrop $line cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }') errors=$errors" | tee -a "$results" >&2
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  server_pid=

  echo "== run $run of $runs: the same to a private Postfix delivering to a Maildir" >&2
  postfix_dir="$work/pf$run"
  mkdir -p "$postfix_dir/queue" "$postfix_dir/data" "$postfix_dir/mail"
  chown postfix "$postfix_dir/data"
  chown postfix:postfix "$postfix_dir/mail"
  echo "bench@maildir.example bench/" >"$postfix_dir/vmailbox"
  pf_port=$(free_port)
  cat >"$postfix_dir/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $postfix_dir/queue
data_directory = $postfix_dir/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix-bench.invalid
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
maillog_file_prefixes = $postfix_dir
maillog_file = $postfix_dir/maillog
smtputf8_enable = no
smtp_dns_support_level = disabled
biff = no
virtual_mailbox_domains = maildir.example
virtual_mailbox_base = $postfix_dir/mail
virtual_mailbox_maps = texthash:$postfix_dir/vmailbox
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
EOF
  {
    echo "127.0.0.1:$pf_port inet n - n - - smtpd"
    # Debian's services, none chrooted.
    sed -n 's/^\([a-z]*\) *\(unix\|unix-dgram\) *\([-n]\) *\([-n]\) *y /\1 \2 \3 \4 n /p; /^\(qmgr\|proxymap\|proxywrite\|local\|virtual\|postlog\) /p' /etc/postfix/master.cf.proto |
      grep -E '^(pickup|cleanup|qmgr|tlsmgr|rewrite|bounce|defer|trace|verify|flush|proxymap|proxywrite|smtp|relay|showq|error|retry|discard|local|virtual|lmtp|anvil|scache|postlog) '
  } >"$postfix_dir/master.cf"
  timeout 60 postfix -c "$postfix_dir" start >/dev/null 2>&1 || { cat "$postfix_dir/maillog" >&2; exit 1; }
  master=$(tr -d ' ' <"$postfix_dir/queue/pid/master.pid")
  for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $pf_port), 1)" 2>/dev/null && break; sleep 0.1; done
  cpu0=$(cpu_of_group "$master")
  line=$(python3 "$work/client.py" "$pf_port" "$messages" bench@maildir.example "$postfix_dir/mail/bench/new" maildir)
  cpu1=$(cpu_of_group "$master")
  echo "$run postfix-maildir $line cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }') errors=0" | tee -a "$results" >&2
  timeout 30 postfix -c "$postfix_dir" stop >/dev/null 2>&1 || true
  for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$master" 2>/dev/null || true
  postfix_dir=
done

echo
echo "== $messages messages, one 1 KiB CSV attachment each, one SMTP session; medians of $runs runs"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    rows.setdefault(parts[1], []).append(dict(p.split("=") for p in parts[2:]))
cols = [("accept_per_s", "msg/s to last 250"), ("all_per_s", "msg/s to last file"),
        ("p50_ms", "p50 ms 250->file"), ("p99_ms", "p99 ms 250->file"), ("cpu_s", "server CPU s"),
        ("arrived", "files arrived")]
print(f"{'':18}" + "".join(f"{title:>20}" for _, title in cols))
for server, runs in rows.items():
    cells = [statistics.median(float(r[key]) for r in runs) for key, _ in cols]
    print(f"{server:18}" + "".join(f"{c:>20.2f}" for c in cells))
PY
