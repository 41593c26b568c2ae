#!/usr/bin/env bash
# Login latency while the inbox imports a 1,000,000-row CSV (issue 12, finding 4).
#
# Starts freightdrop (release build unless FREIGHTDROP_BIN is given) on a fresh data dir, drops
# an order CSV of ROWS rows (ROWS/2 shipments, two goods lines each) into a partner's inbox and,
# while the inbox holds its claim on the file (its ledger row is open), logs in over FTP
# (ftplib: connect, USER/PASS, QUIT) and SFTP (paramiko: connect, password auth, close) in turn.
# Prints p50, p99 and the slowest login per protocol, and how long the import took.
# The goal: every login under 100 ms during the import.
#
# Environment:
#   FREIGHTDROP_BIN  binary to test [default: cargo build --release into ${CARGO_TARGET_DIR:-target}]
#   ROWS             rows in the CSV [1000000]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
ROWS=${ROWS:-1000000}
FD_PORT=2131
SFTP_PORT=2132
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)
PIDS=()
CREATED_USER=no
PEER_USER=

build_freightdrop
W=$(mktemp -d /tmp/fd-login-bench.XXXXXX)
trap cleanup EXIT

serve_freightdrop --ftp-addr "127.0.0.1:$FD_PORT" --sftp-addr "127.0.0.1:$SFTP_PORT" \
    --passive-ports 42000-42999
printf '%s\n' "$PASSWORD" | timeout 60 "$FREIGHTDROP_BIN" user add bench --customer 1234 \
    --password-stdin --data-dir "$W/fd" >/dev/null

log "writing a $ROWS-row CSV"
python3 - "$W/big.csv" "$ROWS" <<'PY'
import sys
path, rows = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("customerID;shipmentID;orderReference;deliveryName;deliveryPostcode;deliveryCity;"
            "deliveryCountry;deliveryDate;colli;packing;weight\n")
    for n in range(rows // 2):
        for colli, packing in ((10, "carton"), (2, "pallet")):
            f.write(f"1234;B{n:07};PO-{n};Philips;7418 EV;Deventer;NL;2025-06-02;{colli};{packing};525.5\n")
PY

log "importing, logging in meanwhile"
mv "$W/big.csv" "$W/fd/homes/bench/big.csv"
python3 - "$W/fd/freightdrop.db" "$FD_PORT" "$SFTP_PORT" "$PASSWORD" <<'PY'
import ftplib, sqlite3, sys, time, logging
import paramiko
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
db, ftp_port, sftp_port, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def claimed():
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return c.execute("SELECT count(*) FROM inbox_files WHERE file_name='big.csv' "
                         "AND closed_at IS NULL").fetchone()[0] == 1
    finally:
        c.close()

def ftp_login():
    t = time.monotonic()
    f = ftplib.FTP()
    f.connect("127.0.0.1", ftp_port, timeout=30)
    f.login("bench", password)
    f.quit()
    return time.monotonic() - t

def sftp_login():
    t = time.monotonic()
    tr = paramiko.Transport(("127.0.0.1", sftp_port))
    tr.connect(username="bench", password=password)
    tr.close()
    return time.monotonic() - t

deadline = time.monotonic() + 120
while not claimed():
    if time.monotonic() > deadline:
        sys.exit("the inbox never claimed big.csv")
    time.sleep(0.05)
start = time.monotonic()
ftp, sftp = [], []
while True:
    a, b = ftp_login(), sftp_login()
    if not claimed():
        break
    ftp.append(a)
    sftp.append(b)
took = time.monotonic() - start

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000

print(f"import of the file took about {took:.1f} s (from its claim)")
for name, xs in (("FTP", ftp), ("SFTP", sftp)):
    if not xs:
        print(f"{name}: no login fell within the import")
        continue
    print(f"{name} login during import: n={len(xs)} p50={pct(xs, 50):.1f} ms "
          f"p99={pct(xs, 99):.1f} ms max={max(xs) * 1000:.1f} ms")
PY
