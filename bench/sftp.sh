#!/usr/bin/env bash
# SFTP benchmark: freightdrop side by side with OpenSSH's own sftp-server (internal-sftp of a
# second sshd from Debian's openssh-server), over loopback.
#
# Measures, per run and per server (freightdrop first, then OpenSSH, so noise hits both):
#   - upload and download of a SIZE_MB random file with OpenSSH `sftp`, once with
#     aes128-gcm@openssh.com and once with chacha20-poly1305@openssh.com (key login);
#   - FILES x 1 KiB uploads in ONE `sftp` session (aes128-gcm);
#   - CYCLES sequential curl login-download(1 KiB)-logout cycles (password login; curl's libssh2
#     picks its own cipher, the same against both servers).
# Prints the medians, the freightdrop/OpenSSH ratios (as rates: > 1 means freightdrop is faster)
# and the targets of issue 4; writes the raw numbers to $OUT.
#
# Runs as root on Debian 12 (installs openssh-server, openssh-client, curl, python3 when
# missing; creates a system user `benchsftp` for sshd and removes it again if it created it).
# How the peer sshd is run here: shared/spec/peers.md.
#
# Environment:
#   FREIGHTDROP_BIN  binary to test [default: cargo build --release into ${CARGO_TARGET_DIR:-target}]
#   SIZE_MB          size of the big file, MiB [1024]
#   FILES            number of 1 KiB files in the one-session upload [1000]
#   CYCLES           login-download-logout cycles [200]
#   RUNS             runs; the table shows medians [3]
#   FD_PORT, SSHD_PORT  loopback ports of freightdrop's SFTP and of the peer sshd [2232, 2233]
#   OUT              raw results file [bench/out/sftp-<UTC date>.txt]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-1000}
CYCLES=${CYCLES:-200}
RUNS=${RUNS:-3}
FD_PORT=${FD_PORT:-2232}
SSHD_PORT=${SSHD_PORT:-2233}
OUT=${OUT:-$ROOT/bench/out/sftp-$(date -u +%Y%m%dT%H%M%SZ).txt}

FD_USER=bench
OS_USER=benchsftp
PEER_USER=$OS_USER
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)
# A generous bound for one big transfer: 2 s per MiB at worst (~0.5 MiB/s), at least 60 s.
BIG_TIMEOUT=$((SIZE_MB * 2 > 60 ? SIZE_MB * 2 : 60))
CIPHERS=(aes128-gcm@openssh.com chacha20-poly1305@openssh.com)

PIDS=()            # process groups we started (freightdrop, sshd)
CREATED_USER=no    # whether we made the sshd system user

# ---------------------------------------------------------------------------------------------
# Setup and cleanup

install_tools() {
    local missing=()
    [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
    command -v sftp >/dev/null || missing+=(openssh-client)
    install_missing "${missing[@]}"
}

make_test_data() {
    make_files
    log "making a client key and an sftp batch"
    ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/id_ed25519"
    # One sftp batch that puts every small file, for the one-session measurement.
    : >"$W/small.batch"
    local f
    for f in "$W"/data/small/*; do
        printf 'put %s\n' "$f" >>"$W/small.batch"
    done
}

start_freightdrop() {
    serve_freightdrop --ftp-addr 127.0.0.1:0 --sftp-addr "127.0.0.1:$FD_PORT"
    printf '%s\n' "$PASSWORD" | timeout 60 "$FREIGHTDROP_BIN" user add "$FD_USER" --customer 1 \
        --protocols sftp --password-stdin --data-dir "$W/fd" >/dev/null
    timeout 60 "$FREIGHTDROP_BIN" user key add "$FD_USER" "$W/id_ed25519.pub" --data-dir "$W/fd" \
        >/dev/null
    FD_HOME=$W/fd/homes/$FD_USER
}

start_sshd() {
    log "starting OpenSSH sshd (internal-sftp) on 127.0.0.1:$SSHD_PORT"
    local home=$W/os/home
    mkdir -p "$home/out"
    if id "$OS_USER" >/dev/null 2>&1; then
        usermod -d "$home" "$OS_USER"
    else
        useradd -M -d "$home" -s /bin/sh "$OS_USER"
        CREATED_USER=yes
    fi
    printf '%s:%s\n' "$OS_USER" "$PASSWORD" | chpasswd
    chown -R "$OS_USER:" "$home"
    OS_HOME=$home
    cp "$W/id_ed25519.pub" "$W/os/authorized_keys"
    ssh-keygen -q -t ed25519 -N '' -f "$W/os/ssh_host_ed25519_key"
    mkdir -p /run/sshd
    cat >"$W/os/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $W/os/ssh_host_ed25519_key
PidFile $W/os/sshd.pid
AuthorizedKeysFile $W/os/authorized_keys
StrictModes no
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
AllowUsers $OS_USER
Match User $OS_USER
    ForceCommand internal-sftp
EOF
    setsid /usr/sbin/sshd -D -e -f "$W/os/sshd_config" >"$W/os.out" 2>&1 </dev/null &
    OS_PID=$!
    PIDS+=("$OS_PID")
    for _ in $(seq 100); do
        echo 'pwd' | timeout 5 sftp -q -b - $(ssh_opts os) "$OS_USER@127.0.0.1" >/dev/null 2>&1 &&
            return 0
        kill -0 "$OS_PID" 2>/dev/null || { cat "$W/os.out" >&2; die "sshd exited at start"; }
        sleep 0.1
    done
    cat "$W/os.out" >&2
    die "sshd not answering after 10 s"
}

# ---------------------------------------------------------------------------------------------
# Measurements. Each prints the elapsed seconds on stdout; failures go to stderr and return 1.
# Paths are relative to the home (`out/...`, curl's `/~/`): the peer sshd runs without a chroot,
# so the same relative path names the same place on both servers.

port_of() { case $1 in fd) echo "$FD_PORT" ;; os) echo "$SSHD_PORT" ;; esac; }
user_of() { case $1 in fd) echo "$FD_USER" ;; os) echo "$OS_USER" ;; esac; }
home_of() { case $1 in fd) echo "$FD_HOME" ;; os) echo "$OS_HOME" ;; esac; }
# ssh_opts SERVER [CIPHER]: OpenSSH client options for a key login to SERVER
ssh_opts() {
    printf '%s ' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o IdentitiesOnly=yes -o PasswordAuthentication=no -i "$W/id_ed25519" -P "$(port_of "$1")"
    [[ -z ${2:-} ]] || printf '%s ' -c "$2"
}

# sftp_batch SERVER CIPHER TIMEOUT COMMANDS...: one sftp session running COMMANDS
sftp_batch() {
    local server=$1 cipher=$2 limit=$3 err=$W/sftp.err
    shift 3
    # shellcheck disable=SC2046
    printf '%s\n' "$@" | timeout "$limit" sftp -q -b - $(ssh_opts "$server" "$cipher") \
        "$(user_of "$server")@127.0.0.1" >/dev/null 2>"$err" ||
        { echo "$server sftp: $(cat "$err")" >&2; return 1; }
}

# big_upload SERVER CIPHER NAME
big_upload() {
    local t0 secs got
    t0=$(now)
    sftp_batch "$1" "$2" "$BIG_TIMEOUT" "put $W/data/big.bin out/$3" || return 1
    secs=$(elapsed "$t0")
    got=$(stat -c %s "$(home_of "$1")/out/$3" 2>/dev/null || echo missing)
    [[ $got == "$((SIZE_MB * 1024 * 1024))" ]] || {
        echo "$1 upload: server file has $got bytes" >&2
        return 1
    }
    echo "$secs"
}

# big_download SERVER CIPHER NAME
big_download() {
    local t0 secs
    rm -f "$W/down.bin"
    t0=$(now)
    sftp_batch "$1" "$2" "$BIG_TIMEOUT" "get out/$3 $W/down.bin" || return 1
    secs=$(elapsed "$t0")
    cmp -s "$W/down.bin" "$W/data/big.bin" || {
        echo "$1 download: the file differs from the original" >&2
        return 1
    }
    rm -f "$W/down.bin"
    echo "$secs"
}

# small_files SERVER DIRNAME: FILES x 1 KiB puts in one sftp session
small_files() {
    local t0 secs n
    mapfile -t commands <"$W/small.batch"
    t0=$(now)
    sftp_batch "$1" aes128-gcm@openssh.com 600 "mkdir out/$2" "cd out/$2" "${commands[@]}" ||
        return 1
    secs=$(elapsed "$t0")
    n=$(find "$(home_of "$1")/out/$2" -type f -size 1k 2>/dev/null | wc -l)
    [[ $n == "$FILES" ]] || {
        echo "$1 small files: $n of $FILES files arrived" >&2
        return 1
    }
    echo "$secs"
}

# login_cycles SERVER: CYCLES sequential curl login-download(1 KiB)-logout, password login
login_cycles() {
    local t0 secs i u err=$W/curl.err
    u="sftp://127.0.0.1:$(port_of "$1")/~/out/1k.bin"
    cp "$W/data/1k.bin" "$(home_of "$1")/out/1k.bin"
    [[ $1 == os ]] && chown "$OS_USER:" "$OS_HOME/out/1k.bin"
    t0=$(now)
    for ((i = 1; i <= CYCLES; i++)); do
        timeout 30 curl -sS -k -u "$(user_of "$1"):$PASSWORD" -o "$W/cycle.bin" "$u" 2>"$err" ||
            { echo "$1 cycle $i: $(cat "$err")" >&2; return 1; }
    done
    secs=$(elapsed "$t0")
    cmp -s "$W/cycle.bin" "$W/data/1k.bin" || { echo "$1 cycles: wrong content" >&2; return 1; }
    echo "$secs"
}

# ---------------------------------------------------------------------------------------------
# Recording and reporting

# measure and record: bench/common.sh

short() { case $1 in aes128-gcm@openssh.com) echo gcm ;; chacha20-poly1305@openssh.com) echo chacha ;; esac; }

one_run() {
    local run=$1 s cipher name
    for cipher in "${CIPHERS[@]}"; do
        name=big-$run-$(short "$cipher").bin
        for s in fd os; do measure "$run" "$s" "up-$(short "$cipher")" big_upload "$s" "$cipher" "$name"; done
        for s in fd os; do measure "$run" "$s" "down-$(short "$cipher")" big_download "$s" "$cipher" "$name"; done
        for s in fd os; do rm -f "$(home_of "$s")/out/$name"; done
    done
    for s in fd os; do measure "$run" "$s" files small_files "$s" "small-$run"; done
    for s in fd os; do measure "$run" "$s" cycles login_cycles "$s"; done
}

report() {
    local m fd os ratio target verdict
    {
        printf '\n# freightdrop vs OpenSSH internal-sftp, medians of %s run(s): SIZE_MB=%s FILES=%s CYCLES=%s, work dir %s\n' \
            "$RUNS" "$SIZE_MB" "$FILES" "$CYCLES" "$W"
        printf '%-12s %-9s %12s %12s %7s %8s %s\n' metric unit freightdrop openssh ratio target met
        for m in up-gcm down-gcm up-chacha down-chacha files cycles; do
            fd=$(median fd "$m")
            os=$(median os "$m")
            ratio=$(awk -v a="$fd" -v b="$os" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }')
            case $m in
                cycles) target=3.0 ;;
                *) target=1.0 ;;
            esac
            verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN {
                if (r == "-") print "n/a"; else print (r >= t ? "yes" : "NO") }')
            printf '%-12s %-9s %12s %12s %7s %8s %s\n' "$m" "$(unit "$m")" "$fd" "$os" "$ratio" \
                ">=$target" "$verdict"
        done
        printf 'ratio = freightdrop rate / OpenSSH rate (> 1: freightdrop faster); failures: %s\n' "$FAILURES"
    } | tee -a "$OUT"
}

# ---------------------------------------------------------------------------------------------

main() {
    [[ $(id -u) == 0 ]] || die "run as root (the peer sshd logs in a system user)"
    FAILURES=0
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    install_tools
    build_freightdrop
    pick_workdir freightdrop-bench-sftp
    mkdir -p "$(dirname "$OUT")"
    {
        echo "# bench/sftp.sh $(date -u +%FT%TZ) on $(hostname), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "# freightdrop: $FREIGHTDROP_BIN ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
        echo "# openssh-server: $(dpkg-query -W -f '${Version}' openssh-server 2>/dev/null || echo '?'), client: $(ssh -V 2>&1 | cut -d, -f1), curl: $(curl --version | head -1 | cut -d' ' -f2)"
        echo "# SIZE_MB=$SIZE_MB FILES=$FILES CYCLES=$CYCLES RUNS=$RUNS work=$W"
        echo "# run server metric seconds rate(MiB/s | files/s | cycles/s)"
    } >"$OUT"
    make_test_data
    start_freightdrop
    start_sshd
    local run
    for ((run = 1; run <= RUNS; run++)); do
        log "run $run of $RUNS"
        one_run "$run"
    done
    report
    log "raw numbers: $OUT"
    if [[ -s $W/fd.err ]]; then
        log "freightdrop wrote to stderr (warnings and errors), last lines:"
        tail -n 20 "$W/fd.err" >&2
    fi
}

main "$@"
