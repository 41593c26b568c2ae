# Shared by bench/ftp.sh and bench/sftp.sh (sourced, not run): logging, building the server,
# timing, recording results, taking medians, and cleaning up at exit. Each script sets ROOT, OUT,
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

now() { date +%s.%N; }

record() {
    local rate
    rate=$(awk -v m="$3" -v s="$4" -v mb="$SIZE_MB" -v f="$FILES" -v c="$CYCLES" 'BEGIN {
        if (m ~ /^(up|down)/) q = mb; else if (m ~ /^files/) q = f; else q = c
        printf "%.2f", (s > 0 ? q / s : 0) }')
    printf '%s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$rate" >>"$OUT"
    log "run $1 $2 $3: ${4}s -> $rate $(unit "$3")"
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
