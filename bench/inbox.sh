#!/usr/bin/env bash
# The inbox benchmark, in one run (see issue 5):
#  1. 1,000,000 CSV order rows: the raw parse rate (examples/parse_rate, no database), the rate
#     of `freightdrop import` committing them to SQLite (with peak memory), and `sqlite3 .import`
#     of the same file (what a user could do by hand, no checks);
#  2. 1,000 files of 1 KiB uploaded over FTP in one session to a running server, with p50/p99
#     from "upload complete" to "file in done/": from the server's own JSON log (the frontend's
#     "file arrived in inbox" to the pipeline's "inbox file processed", logged once the file is
#     in done/ and its ledger row closed), and as the client sees it (STOR reply to the file
#     showing up in a 1 ms poll of done/ for the oldest pending names; includes the poller's
#     own scheduling delays).
# Usage: bench/inbox.sh [ROWS] [FILES]. Builds in release mode; honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
files=${2:-1000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin freightdrop -p freightdrop
cargo build --release --quiet --example parse_rate -p inbox-processor
bin="$target/release/freightdrop"
work=$(mktemp -d /tmp/freightdrop-bench.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export FREIGHTDROP_DATA_DIR="$work/data" FREIGHTDROP_CERTS_DIR="$work/certs"
export FREIGHTDROP_DATABASE_URL="sqlite://$work/data/freightdrop.db"

echo "== generating $rows CSV order rows"
python3 - "$work/orders.csv" "$rows" <<'PY'
import sys
path, rows = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("customerID;shipmentID;orderReference;deliveryName;deliveryPostcode;deliveryCity;"
            "deliveryCountry;deliveryDate;colli;packing;weight\n")
    for n in range(rows):
        f.write(f"1234;S{n};PO-{n // 10};Philips;7418 EV;Deventer;NL;2025-06-02;10;carton;525.5\n")
PY
echo "file: $(du -m "$work/orders.csv" | cut -f1) MB"
# The file's pages go to disk now, not while the parse below is timed.
sync

echo "== raw parse (no database)"
"$target/release/examples/parse_rate" "$work/orders.csv"

echo "== freightdrop import into SQLite (parse + one transaction + move to done/)"
echo 'bench-password-1' | "$bin" user add bench --customer 1234 --password-stdin >/dev/null
start=$(date +%s.%N)
/usr/bin/time -v "$bin" import "$work/orders.csv" --user bench >"$work/import.out" 2>"$work/import.err"
end=$(date +%s.%N)
cat "$work/import.out"
python3 - "$start" "$end" "$rows" "$work/import.err" <<'PY'
import sys, re
start, end, rows = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
text = open(sys.argv[4]).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
print(f"rows={rows} seconds={end - start:.3f} rows_per_sec={rows / (end - start):.0f} "
      f"peak_rss_mb={rss / 1024:.0f}")
PY

echo "== sqlite3 .import of the same file (no checks, no upsert)"
start=$(date +%s.%N)
sqlite3 "$work/plain.db" ".mode csv" ".separator ;" ".import $work/orders.csv orders"
end=$(date +%s.%N)
python3 -c "import sys; s,e,r=float(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'rows={r} seconds={e-s:.3f} rows_per_sec={r/(e-s):.0f}')" "$start" "$end" "$rows"

echo "== $files files of 1 KiB over FTP, one session: upload complete -> in done/"
echo 'bench-password-2' | "$bin" user add lat --customer 1234 --password-stdin >/dev/null
"$bin" --log-format json serve --ftp-addr 127.0.0.1:0 --sftp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --passive-ports 41000-41999 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 300); do grep -q 'freightdrop: ready' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^freightdrop: ftp listening on .*:\([0-9]*\)$/\1/p' "$work/serve.out")
python3 - "$port" "$files" "$work/data/homes/lat/done" "$work/serve.err" <<'PY'
import datetime, ftplib, io, json, os, sys, threading, time
port, files, done, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
header = "customerID;shipmentID;deliveryName;deliveryCity;colli;packing;weight\n"
def body(i):
    text = header
    n = 0
    while len(text) < 1000:
        text += f"1234;L{i}-{n};Philips;Deventer;1;carton;10\n"
        n += 1
    return text.encode()
complete, seen = {}, {}
pending = []  # names uploaded and not yet seen in done/, in upload order
stop = False
def watch():
    # Cheap on purpose (this machine has 2 cores, shared with the server): each 1 ms tick looks
    # for the oldest few pending names only, instead of listing a folder of up to 1,000 files.
    while not stop:
        now = time.monotonic()
        for name in list(pending[:16]):
            if os.path.exists(os.path.join(done, name)):
                seen[name] = now
                pending.remove(name)
        time.sleep(0.001)
watcher = threading.Thread(target=watch)
watcher.start()
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port)
ftp.login("lat", "bench-password-2")
for i in range(files):
    name = f"f{i:05d}.csv"
    ftp.storbinary(f"STOR {name}", io.BytesIO(body(i)))
    complete[name] = time.monotonic()
    pending.append(name)
ftp.quit()
deadline = time.monotonic() + 60
while len(seen) < files and time.monotonic() < deadline:
    time.sleep(0.01)
stop = True
watcher.join()
time.sleep(0.5)
def pick(values, q):
    return values[min(len(values) - 1, int(q * len(values)))]
arrived, processed = {}, {}
for line in open(log):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    fields = event.get("fields", {})
    at = datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
    if fields.get("message") == "file arrived in inbox":
        arrived.setdefault(fields.get("file"), at)
    elif fields.get("message") == "inbox file processed":
        processed[fields.get("file")] = at
server = sorted((processed[n] - arrived[n]) * 1000 for n in arrived if n in processed)
client = sorted((seen[n] - complete[n]) * 1000 for n in complete if n in seen)
print(f"files={files} in_done={len(seen)} missing={files - len(seen)}")
print(f"server log (arrival -> in done/): p50_ms={pick(server, 0.5):.1f} "
      f"p99_ms={pick(server, 0.99):.1f} max_ms={server[-1]:.1f} (n={len(server)})")
print(f"client (STOR reply -> seen in done/): p50_ms={pick(client, 0.5):.1f} "
      f"p99_ms={pick(client, 0.99):.1f} max_ms={client[-1]:.1f}")
PY
