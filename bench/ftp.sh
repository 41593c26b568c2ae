#!/usr/bin/env bash
# FTP/FTPS benchmark: freightdrop side by side with vsftpd (Debian's package), over loopback.
#
# Measures, per run and per server (freightdrop first, then vsftpd, so noise hits both):
#   - upload and download of a SIZE_MB random file with curl, plain FTP and explicit FTPS;
#   - FILES x 1 KiB uploads in ONE lftp session (mirror -R), plain and FTPS;
#   - CYCLES sequential curl login-download(1 KiB)-logout cycles, plain FTP.
# Prints the medians, the freightdrop/vsftpd ratios (as rates: > 1 means freightdrop is faster)
# and the targets of issue 3; writes the raw numbers to $OUT.
#
# Runs as root on Debian 12 (installs vsftpd, lftp, curl when missing; creates a system user
# `benchftp` for vsftpd and removes it again if it created it). How vsftpd is run here:
# shared/spec/peers.md.
#
# Environment:
#   FREIGHTDROP_BIN  binary to test [default: cargo build --release into ${CARGO_TARGET_DIR:-target}]
#   SIZE_MB          size of the big file, MiB [1024]
#   FILES            number of 1 KiB files in the lftp session [1000]
#   CYCLES           login-download-logout cycles [200]
#   RUNS             runs; the table shows medians [3]
#   OUT              raw results file [bench/out/ftp-<UTC date>.txt]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-1000}
CYCLES=${CYCLES:-200}
RUNS=${RUNS:-3}
OUT=${OUT:-$ROOT/bench/out/ftp-$(date -u +%Y%m%dT%H%M%SZ).txt}

FD_PORT=2121
VS_PORT=2122
FD_USER=bench
VS_USER=benchftp
PEER_USER=$VS_USER
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)
# A generous bound for one big transfer: 2 s per MiB at worst (~0.5 MiB/s), at least 60 s.
BIG_TIMEOUT=$((SIZE_MB * 2 > 60 ? SIZE_MB * 2 : 60))

PIDS=()            # process groups we started (freightdrop, vsftpd)
CREATED_USER=no    # whether we made the vsftpd system user

# ---------------------------------------------------------------------------------------------
# Setup and cleanup

install_tools() {
    local missing=()
    [[ -x /usr/sbin/vsftpd ]] || missing+=(vsftpd)
    command -v lftp >/dev/null || missing+=(lftp)
    install_missing "${missing[@]}"
}

start_freightdrop() {
    serve_freightdrop --ftp-addr "127.0.0.1:$FD_PORT" --sftp-addr 127.0.0.1:0 --passive-ports 42000-42999
    printf '%s\n' "$PASSWORD" | timeout 60 "$FREIGHTDROP_BIN" user add "$FD_USER" --customer 1 \
        --password-stdin --data-dir "$W/fd" >/dev/null
    FD_HOME=$W/fd/homes/$FD_USER
    mkdir -p "$FD_HOME/out"
}

start_vsftpd() {
    log "starting vsftpd on 127.0.0.1:$VS_PORT"
    local home=$W/vs/home
    mkdir -p "$home/out"
    if id "$VS_USER" >/dev/null 2>&1; then
        usermod -d "$home" "$VS_USER"
    else
        useradd -M -d "$home" -s /bin/sh "$VS_USER"
        CREATED_USER=yes
    fi
    printf '%s:%s\n' "$VS_USER" "$PASSWORD" | chpasswd
    chown -R "$VS_USER:" "$home"
    VS_HOME=$home
    mkdir -p /var/run/vsftpd/empty
    cat >"$W/vs/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=$VS_PORT
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name=vsftpd
pasv_enable=YES
pasv_min_port=43000
pasv_max_port=43999
connect_from_port_20=NO
dirmessage_enable=NO
xferlog_enable=NO
seccomp_sandbox=NO
max_clients=0
max_per_ip=0
ssl_enable=YES
rsa_cert_file=$W/certs/freightdrop-cert.pem
rsa_private_key_file=$W/certs/freightdrop-key.pem
force_local_logins_ssl=NO
force_local_data_ssl=NO
ssl_ciphers=HIGH
require_ssl_reuse=NO
ssl_request_cert=NO
EOF
    setsid /usr/sbin/vsftpd "$W/vs/vsftpd.conf" >"$W/vs.out" 2>&1 </dev/null &
    VS_PID=$!
    PIDS+=("$VS_PID")
    for _ in $(seq 100); do
        timeout 5 curl -sS -o /dev/null "ftp://$VS_USER:$PASSWORD@127.0.0.1:$VS_PORT/" 2>/dev/null &&
            return 0
        kill -0 "$VS_PID" 2>/dev/null || { cat "$W/vs.out" >&2; die "vsftpd exited at start"; }
        sleep 0.1
    done
    die "vsftpd not answering after 10 s"
}

# ---------------------------------------------------------------------------------------------
# Measurements. Each prints the elapsed seconds on stdout; failures go to stderr and return 1.

# url SERVER PATH: the ftp:// URL of PATH (below the home) on SERVER (fd | vs)
url() {
    case $1 in
        fd) printf 'ftp://%s:%s@127.0.0.1:%s%s' "$FD_USER" "$PASSWORD" "$FD_PORT" "$2" ;;
        vs) printf 'ftp://%s:%s@127.0.0.1:%s%s' "$VS_USER" "$PASSWORD" "$VS_PORT" "$2" ;;
    esac
}
home_of() { case $1 in fd) echo "$FD_HOME" ;; vs) echo "$VS_HOME" ;; esac; }
# tls_flags MODE: curl's flags for plain or ftps
tls_flags() { [[ $1 == ftps ]] && echo "--ssl-reqd -k" || true; }

# big_upload SERVER MODE NAME
big_upload() {
    local t0 secs err=$W/curl.err
    t0=$(now)
    # shellcheck disable=SC2046
    timeout "$BIG_TIMEOUT" curl -sS --fail $(tls_flags "$2") -T "$W/data/big.bin" \
        "$(url "$1" "/out/$3")" 2>"$err" || { echo "$1 $2 upload: $(cat "$err")" >&2; return 1; }
    secs=$(elapsed "$t0")
    local got
    got=$(stat -c %s "$(home_of "$1")/out/$3" 2>/dev/null || echo missing)
    [[ $got == "$((SIZE_MB * 1024 * 1024))" ]] || {
        echo "$1 $2 upload: server file has $got bytes" >&2
        return 1
    }
    echo "$secs"
}

# big_download SERVER MODE NAME
big_download() {
    local t0 secs size err=$W/curl.err
    t0=$(now)
    # shellcheck disable=SC2046
    size=$(timeout "$BIG_TIMEOUT" curl -sS --fail $(tls_flags "$2") -o /dev/null \
        -w '%{size_download}' "$(url "$1" "/out/$3")" 2>"$err") ||
        { echo "$1 $2 download: $(cat "$err")" >&2; return 1; }
    secs=$(elapsed "$t0")
    [[ $size == "$((SIZE_MB * 1024 * 1024))" ]] || {
        echo "$1 $2 download: got $size bytes" >&2
        return 1
    }
    echo "$secs"
}

# small_files SERVER MODE DIRNAME: FILES x 1 KiB in one lftp session
small_files() {
    local user port t0 secs n settings err=$W/lftp.err
    case $1 in
        fd) user=$FD_USER port=$FD_PORT ;;
        vs) user=$VS_USER port=$VS_PORT ;;
    esac
    settings="set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 30;"
    settings+=" set net:reconnect-interval-base 1;"
    if [[ $2 == ftps ]]; then
        settings+=" set ftp:ssl-force yes; set ftp:ssl-protect-data yes;"
        settings+=" set ssl:verify-certificate no;"
    else
        settings+=" set ftp:ssl-allow no;" # lftp would otherwise switch to TLS on its own
    fi
    t0=$(now)
    timeout 600 lftp -u "$user,$PASSWORD" -p "$port" \
        -e "$settings mirror -R --no-perms --no-umask $W/data/small /out/$3; bye" \
        127.0.0.1 </dev/null >/dev/null 2>"$err" || { echo "$1 $2 lftp: $(cat "$err")" >&2; return 1; }
    secs=$(elapsed "$t0")
    n=$(find "$(home_of "$1")/out/$3" -type f -size 1k 2>/dev/null | wc -l)
    [[ $n == "$FILES" ]] || {
        echo "$1 $2 lftp: $n of $FILES files arrived; $(cat "$err")" >&2
        return 1
    }
    echo "$secs"
}

# login_cycles SERVER: CYCLES sequential curl login-download(1 KiB)-logout, plain FTP
login_cycles() {
    local t0 secs i u err=$W/curl.err
    u=$(url "$1" /out/1k.bin)
    rm -f "$(home_of "$1")/out/1k.bin" # a later run's setup: freightdrop refuses uploads onto a taken name
    timeout 30 curl -sS --fail -T "$W/data/1k.bin" "$u" 2>"$err" ||
        { echo "$1 cycles setup: $(cat "$err")" >&2; return 1; }
    t0=$(now)
    for ((i = 1; i <= CYCLES; i++)); do
        timeout 30 curl -sS --fail -o /dev/null "$u" 2>"$err" ||
            { echo "$1 cycle $i: $(cat "$err")" >&2; return 1; }
    done
    secs=$(elapsed "$t0")
    echo "$secs"
}

# ---------------------------------------------------------------------------------------------
# Recording and reporting

# measure and record: bench/common.sh

one_run() {
    local run=$1 s mode
    for mode in plain ftps; do
        for s in fd vs; do measure "$run" "$s" "up-$mode" big_upload "$s" "$mode" "big-$run-$mode.bin"; done
        for s in fd vs; do measure "$run" "$s" "down-$mode" big_download "$s" "$mode" "big-$run-$mode.bin"; done
        for s in fd vs; do rm -f "$(home_of "$s")/out/big-$run-$mode.bin"; done
    done
    for mode in plain ftps; do
        for s in fd vs; do measure "$run" "$s" "files-$mode" small_files "$s" "$mode" "small-$run-$mode"; done
    done
    for s in fd vs; do measure "$run" "$s" "cycles-plain" login_cycles "$s"; done
}

report() {
    local m fd vs ratio target verdict
    {
        printf '\n# freightdrop vs vsftpd, medians of %s run(s): SIZE_MB=%s FILES=%s CYCLES=%s, work dir %s\n' \
            "$RUNS" "$SIZE_MB" "$FILES" "$CYCLES" "$W"
        printf '%-14s %-9s %12s %12s %7s %8s %s\n' metric unit freightdrop vsftpd ratio target met
        for m in up-plain down-plain up-ftps down-ftps files-plain files-ftps cycles-plain; do
            fd=$(median fd "$m")
            vs=$(median vs "$m")
            ratio=$(awk -v a="$fd" -v b="$vs" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }')
            case $m in
                cycles-*) target=3.0 ;;
                files-plain) target=- ;;
                *) target=1.0 ;;
            esac
            verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN {
                sub(/^>=/, "", t)
                if (t == "-") print "-"; else if (r == "-") print "n/a"; else print (r >= t ? "yes" : "NO") }')
            [[ $target == - ]] || target=">=$target"
            printf '%-14s %-9s %12s %12s %7s %8s %s\n' "$m" "$(unit "$m")" "$fd" "$vs" "$ratio" \
                "$target" "$verdict"
        done
        printf 'ratio = freightdrop rate / vsftpd rate (> 1: freightdrop faster); failures: %s\n' "$FAILURES"
    } | tee -a "$OUT"
}

# ---------------------------------------------------------------------------------------------

main() {
    [[ $(id -u) == 0 ]] || die "run as root (vsftpd logs in a system user)"
    FAILURES=0
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    install_tools
    build_freightdrop
    pick_workdir freightdrop-bench
    mkdir -p "$(dirname "$OUT")"
    {
        echo "# bench/ftp.sh $(date -u +%FT%TZ) on $(hostname), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "# freightdrop: $FREIGHTDROP_BIN ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
        echo "# vsftpd: $(dpkg-query -W -f '${Version}' vsftpd 2>/dev/null || echo '?'), curl: $(curl --version | head -1 | cut -d' ' -f2), lftp: $(lftp --version | head -1 | awk '{print $4}')"
        echo "# SIZE_MB=$SIZE_MB FILES=$FILES CYCLES=$CYCLES RUNS=$RUNS work=$W"
        echo "# run server metric seconds rate(MiB/s | files/s | cycles/s)"
    } >"$OUT"
    make_files
    start_freightdrop
    start_vsftpd
    local run
    for ((run = 1; run <= RUNS; run++)); do
        log "run $run of $RUNS"
        one_run "$run"
    done
    report
    log "raw numbers: $OUT"
    log "freightdrop peak memory: $(awk '/^VmHWM/ { print $2, $3 }' "/proc/$FD_PID/status" 2>/dev/null)"
    if [[ -s $W/fd.err ]]; then
        log "freightdrop's log (warnings; rustls at error), lines per level and message:"
        python3 - "$W/fd.err" <<'EOF' | tee -a "$OUT" >&2
import collections, json, sys
seen = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    try:
        rec = json.loads(line)
        key = (rec.get("level", "?"), str(rec.get("fields", {}).get("message", ""))[:100])
    except ValueError:
        key = ("raw", line.strip()[:100])
    seen[key] += 1
for (level, msg), n in seen.most_common(10):
    print(f"# log {n:6d} x {level} {msg}")
EOF
    fi
}

main "$@"
