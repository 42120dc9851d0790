#!/usr/bin/env bash
# The Asterisk 22 test sandbox: a Debian sid chroot running our configuration.
#
# Why a chroot: the host (Debian 12) ships no asterisk package, and sid's Asterisk needs a
# newer libc than the host has. One Asterisk plays both our PBX and the far end (scripted
# callees) through a SIP loopback trunk, so tests exercise real SIP, RTP and AudioSocket.
#
#   sandbox.sh build    debootstrap the root once (cached; rebuilt only when incomplete)
#   sandbox.sh start    install our config into the root and start Asterisk (waits for ready)
#   sandbox.sh stop     stop Asterisk gracefully, kill if needed, unmount /proc
#   sandbox.sh restart  stop then start
#   sandbox.sh status   exit 0 when running
#   sandbox.sh release PID   drop the lease of test session PID; stop when none is left
#   sandbox.sh version  print `asterisk -V` of the root
#
# Environment: OPENDEEP_SANDBOX_ROOT (default ~/.cache/opendeep/asterisk-root),
#              OPENDEEP_SANDBOX_MIRROR (default http://deb.debian.org/debian),
#              OPENDEEP_SANDBOX_LEASE=PID: `start` records a lease for that test session.
# Several test sessions may share one sandbox: each holds a lease, and `release` stops
# Asterisk only when no live session holds one. Commands that change state hold a lock.
# Every command is idempotent.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ASTERISK="$(dirname "$HERE")"
ROOT="${OPENDEEP_SANDBOX_ROOT:-$HOME/.cache/opendeep/asterisk-root}"
MIRROR="${OPENDEEP_SANDBOX_MIRROR:-http://deb.debian.org/debian}"
MARKER="$ROOT/.opendeep-sandbox-complete"
CONF_DIR="/opt/sandbox/conf"
RUN_DIR="/opt/sandbox/run"
RESULTS_DIR="/opt/sandbox/results"
PID_FILE="$ROOT/opt/sandbox/asterisk.pid"
LEASES="$ROOT/opt/sandbox/leases"
LOCK_FILE="$ROOT.lock"
CONSOLE_LOG="$ROOT/opt/sandbox/console.log"
AMI_PORT=15038
READY_TIMEOUT=60

log() { printf '[sandbox] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (chroot, mount)"; }

ensure_debootstrap() {
    command -v debootstrap >/dev/null && return 0
    log "installing debootstrap"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >&2; then
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >&2
    fi
}

cmd_build() {
    need_root
    if [[ -f "$MARKER" ]]; then
        log "root is cached at $ROOT ($(cmd_version))"
        return 0
    fi
    ensure_debootstrap
    local parent tmp started
    parent="$(dirname "$ROOT")"
    mkdir -p "$parent"
    # Build beside the final place and rename at the end: an interrupted build leaves only
    # a .tmp directory (removed on the next build), never a root that looks complete.
    rm -rf "$ROOT".tmp.* 2>/dev/null || true
    tmp="$(mktemp -d "$ROOT.tmp.XXXXXX")"
    trap 'umount "$tmp/proc" 2>/dev/null || true; rm -rf "$tmp"' EXIT
    started=$SECONDS
    log "debootstrap sid into $tmp (mirror $MIRROR)"
    debootstrap --variant=minbase --include=asterisk,asterisk-modules,asterisk-config \
        sid "$tmp" "$MIRROR" >&2
    [[ -x "$tmp/usr/sbin/asterisk" ]] || die "debootstrap finished but /usr/sbin/asterisk is missing"
    compgen -G "$tmp/usr/lib/*/asterisk/modules/app_audiosocket.so" >/dev/null \
        || die "app_audiosocket.so is missing from the root"
    touch "$tmp/.opendeep-sandbox-complete"
    rm -rf "$ROOT"
    mv "$tmp" "$ROOT"
    trap - EXIT
    log "built in $((SECONDS - started)) s: $(cmd_version)"
}

cmd_version() {
    [[ -x "$ROOT/usr/sbin/asterisk" ]] || die "no root at $ROOT; run: $0 build"
    chroot "$ROOT" /usr/sbin/asterisk -V
}

running_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be an asterisk process.
    grep -q asterisk "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        log "running (pid $pid, AMI 127.0.0.1:$AMI_PORT)"
        return 0
    fi
    log "not running"
    return 1
}

install_config() {
    local conf="$ROOT$CONF_DIR"
    rm -rf "$conf"
    mkdir -p "$conf" "$ROOT$RUN_DIR"/{run,log,spool,db,lib} "$ROOT$RESULTS_DIR"
    cp "$HERE"/conf/* "$conf/"
    # The production dialplan context is what the tests exercise, verbatim.
    cp "$REPO_ASTERISK/extensions.conf" "$conf/extensions_opendeep.conf"
    chmod 0777 "$ROOT$RESULTS_DIR"
}

# A sandbox left running by an earlier checkout must not serve an older dialplan: when the
# repo's dialplan differs from the installed one, install it and reload the dialplan (calls
# in progress keep running). Other configuration changes need `restart`.
reload_changed_dialplan() {
    local conf="$ROOT$CONF_DIR" file
    for file in "$HERE"/conf/extensions.conf "$REPO_ASTERISK/extensions.conf"; do
        local installed="$conf/$(basename "$file")"
        [[ "$file" == "$REPO_ASTERISK/extensions.conf" ]] && installed="$conf/extensions_opendeep.conf"
        if ! cmp -s "$file" "$installed"; then
            cp "$HERE/conf/extensions.conf" "$conf/extensions.conf"
            cp "$REPO_ASTERISK/extensions.conf" "$conf/extensions_opendeep.conf"
            chroot "$ROOT" /usr/sbin/asterisk -C "$CONF_DIR/asterisk.conf" -rx "dialplan reload" >/dev/null
            log "dialplan changed: reloaded"
            return 0
        fi
    done
}

ami_answers() {
    # A bash TCP probe: the AMI banner proves Asterisk accepts manager connections.
    local banner=""
    exec 3<>"/dev/tcp/127.0.0.1/$AMI_PORT" 2>/dev/null || return 1
    IFS= read -r -t 2 banner <&3 || true
    exec 3<&- 3>&-
    [[ "$banner" == "Asterisk Call Manager"* ]]
}

wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) pid="$1"
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$CONSOLE_LOG" >&2; die "asterisk exited during start"; }
        if grep -q "Asterisk Ready." "$CONSOLE_LOG" 2>/dev/null && ami_answers; then
            return 0
        fi
        sleep 0.2
    done
    tail -n 30 "$CONSOLE_LOG" >&2
    die "asterisk not ready within ${READY_TIMEOUT}s"
}

# The WebSocket media client's files (websocket_client.conf, chan_websocket.conf) are
# reloadable too: a sandbox started from a checkout without them gets them at the next
# `start` instead of failing every OPENDEEP_MEDIA=websocket call with "no such connection".
reload_changed_websocket_conf() {
    local conf="$ROOT$CONF_DIR" file module
    for file in websocket_client.conf:res_websocket_client.so chan_websocket.conf:chan_websocket.so; do
        module="${file#*:}"
        file="${file%%:*}"
        [[ -f "$HERE/conf/$file" ]] || continue
        cmp -s "$HERE/conf/$file" "$conf/$file" && continue
        cp "$HERE/conf/$file" "$conf/$file"
        chroot "$ROOT" /usr/sbin/asterisk -C "$CONF_DIR/asterisk.conf" -rx "module reload $module" >/dev/null
        log "$file changed: reloaded $module"
    done
}

cmd_start() {
    need_root
    [[ -f "$MARKER" ]] || die "no complete root at $ROOT; run: $0 build"
    local pid started=$SECONDS
    take_lease
    if pid="$(running_pid)"; then
        log "already running (pid $pid)"
        reload_changed_dialplan
        reload_changed_websocket_conf
        return 0
    fi
    install_config
    mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
    : >"$CONSOLE_LOG"
    # -f: stay in the foreground so $! is Asterisk itself; -c is not used, so no console
    # reads stdin. setsid detaches it from our process group (a test runner's Ctrl-C);
    # 9>&- keeps the lock descriptor out of it, or the lock would live as long as Asterisk.
    setsid chroot "$ROOT" /usr/sbin/asterisk -f -vvv -C "$CONF_DIR/asterisk.conf" \
        </dev/null >>"$CONSOLE_LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_ready "$pid"
    log "ready in $((SECONDS - started)) s (pid $pid, $(cmd_version))"
}

cmd_stop() {
    need_root
    local pid i
    if pid="$(running_pid)"; then
        chroot "$ROOT" /usr/sbin/asterisk -C "$CONF_DIR/asterisk.conf" -rx "core stop now" \
            >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "asterisk did not stop gracefully; killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        log "stopped"
    else
        log "not running"
    fi
    rm -f "$PID_FILE"
    if mountpoint -q "$ROOT/proc" 2>/dev/null; then
        umount "$ROOT/proc" 2>/dev/null || umount -l "$ROOT/proc"
    fi
}

cmd_restart() {
    cmd_stop
    cmd_start
}

take_lease() {
    [[ -n "${OPENDEEP_SANDBOX_LEASE:-}" ]] || return 0
    mkdir -p "$LEASES"
    touch "$LEASES/$OPENDEEP_SANDBOX_LEASE"
}

live_leases() {
    local lease count=0
    for lease in "$LEASES"/*; do
        [[ -e "$lease" ]] || continue
        if kill -0 "$(basename "$lease")" 2>/dev/null; then
            count=$((count + 1))
        else
            rm -f "$lease"
        fi
    done
    echo "$count"
}

cmd_release() {
    local owner="${1:?usage: $0 release PID}" left
    rm -f "$LEASES/$owner"
    left="$(live_leases)"
    if ((left > 0)); then
        log "still leased by $left other session(s); leaving it running"
        return 0
    fi
    cmd_stop
}

locked() {
    # One state change at a time across concurrent test sessions (and a build in progress).
    mkdir -p "$(dirname "$ROOT")"
    exec 9>"$LOCK_FILE"
    flock -w 900 9 || die "timed out waiting for $LOCK_FILE"
    "$@"
}

main() {
    case "${1:-}" in
        build) locked cmd_build ;;
        start) locked cmd_start ;;
        stop) locked cmd_stop ;;
        restart) locked cmd_restart ;;
        release) locked cmd_release "${2:-}" ;;
        status) cmd_status ;;
        version) cmd_version ;;
        *) echo "usage: $0 build|start|stop|restart|status|version|release PID" >&2; exit 2 ;;
    esac
}

main "$@"
