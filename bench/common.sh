# Shared by bench/ftp.sh and bench/sftp.sh (sourced, not run): logging, installing missing
# tools, the work dir and test files, building and starting the server, timing, recording
# results, taking medians, and cleaning up at exit. Each script sets ROOT, OUT,
# FREIGHTDROP_BIN, PIDS (process groups it started), CREATED_USER and PEER_USER (the peer
# server's system user) and W (its work dir).

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

build_freightdrop() {
    if [[ -z ${FREIGHTDROP_BIN:-} ]]; then
        log "building freightdrop (release)"
        (cd "$ROOT" && cargo build --release -p freightdrop)
        local target=${CARGO_TARGET_DIR:-target}
        [[ $target == /* ]] || target=$ROOT/$target
        FREIGHTDROP_BIN=$target/release/freightdrop
    fi
    [[ -x $FREIGHTDROP_BIN ]] || die "no freightdrop binary at $FREIGHTDROP_BIN"
}

# Installs the Debian packages named (plus curl and python3 when missing).
install_missing() {
    local missing=("$@")
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Sets W to a fresh work dir named $1, on tmpfs when there is one.
pick_workdir() {
    if [[ -d /dev/shm && -w /dev/shm ]] && [[ $(stat -f -c %T /dev/shm) == tmpfs ]]; then
        W=/dev/shm/$1
    else
        W=/tmp/$1
        log "no tmpfs at /dev/shm: using $W (the peers' figures were measured on tmpfs)"
    fi
    rm -rf "$W"
    mkdir -p "$W"
    chmod 755 "$W" # the peer server's user must reach its home inside
}

# The transfer files: a SIZE_MB random file, a 1 KiB file, FILES x 1 KiB files.
make_files() {
    log "making test data: ${SIZE_MB} MiB file, $FILES x 1 KiB files"
    mkdir -p "$W/data/small"
    head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$W/data/big.bin"
    head -c 1024 /dev/urandom >"$W/data/1k.bin"
    python3 - "$W/data/small" "$FILES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"f{i:05d}.dat"), "wb") as f:
        f.write(os.urandom(1024))
EOF
}

# Starts `freightdrop serve` on a data dir in $W with the listener flags given; sets FD_PID and
# returns once it is ready.
serve_freightdrop() {
    log "starting freightdrop on 127.0.0.1:$FD_PORT"
    mkdir -p "$W/fd" "$W/certs"
    RUST_LOG=warn,libunftp=warn,rustls=error setsid "$FREIGHTDROP_BIN" serve --data-dir "$W/fd" \
        --certs-dir "$W/certs" --http-addr 127.0.0.1:0 --log-format json "$@" \
        >"$W/fd.out" 2>"$W/fd.err" &
    FD_PID=$!
    PIDS+=("$FD_PID")
    for _ in $(seq 300); do
        grep -q '^freightdrop: ready' "$W/fd.out" 2>/dev/null && break
        kill -0 "$FD_PID" 2>/dev/null || { cat "$W/fd.err" >&2; die "freightdrop exited at start"; }
        sleep 0.1
    done
    grep -q '^freightdrop: ready' "$W/fd.out" || die "freightdrop not ready after 30 s"
}

now() { date +%s.%N; }

# record RUN SERVER METRIC SECONDS: appends the raw line "RUN SERVER METRIC SECONDS RATE"
record() {
    local rate
    rate=$(awk -v m="$3" -v s="$4" -v mb="$SIZE_MB" -v f="$FILES" -v c="$CYCLES" 'BEGIN {
        if (m ~ /^(up|down)/) q = mb; else if (m ~ /^files/) q = f; else q = c
        printf "%.2f", (s > 0 ? q / s : 0) }')
    printf '%s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$rate" >>"$OUT"
    log "run $1 $2 $3: ${4}s -> $rate $(unit "$3")"
}

# measure RUN SERVER METRIC COMMAND...: runs a measurement and records it, or records FAIL
measure() {
    local run=$1 server=$2 metric=$3 secs
    shift 3
    if secs=$("$@"); then
        record "$run" "$server" "$metric" "$secs"
    else
        printf '%s %s %s FAIL FAIL\n' "$run" "$server" "$metric" >>"$OUT"
        FAILURES=$((FAILURES + 1))
        log "run $run $server $metric: FAILED"
    fi
}

unit() { case $1 in up* | down*) echo MiB/s ;; files*) echo files/s ;; *) echo cycles/s ;; esac; }

median() { # median of the rates of SERVER METRIC in $OUT (FAIL lines skipped)
    awk -v s="$1" -v m="$2" '$2 == s && $3 == m && $5 != "FAIL" { print $5 }' "$OUT" | sort -g |
        awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "-"; exit }
            if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

die() {
    log "FAILED: $*"
    exit 1
}

cleanup() {
    local status=$?
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ $CREATED_USER == yes ]]; then userdel "$PEER_USER" 2>/dev/null || true; fi
    [[ -n ${W:-} && -d $W ]] && rm -rf "$W"
    exit "$status"
}
