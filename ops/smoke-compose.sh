#!/usr/bin/env bash
# End-to-end smoke test of the container packaging (Containerfile + compose.yaml):
# build, start db (wait healthy), start the daemon (wait for /health 200),
# drop one dev-corpus file into the inbox, wait for its `file.processed`
# message on the websocket feed, check the events are in PostgreSQL, check the
# browser console (`console` service) answers 401 without the admin token and
# 200 with it and that a session of it shows the daemon's actors, check the
# daemon stops promptly on SIGTERM, and always `down -v` at the end.
#
# Runs against a throw-away compose project (`eventdedup_smoke`) with its own
# temporary inbox/dead_letters/archive folders and a random admin token and
# database password, so it never touches a real stack, its volume or ./inbox.
#
# Offline mode (no container registry): automatic when the upstream base images
# cannot be pulled, or forced with SMOKE_OFFLINE=1 (SMOKE_OFFLINE=0 forbids it).
# It installs podman/runc/debootstrap and podman-compose when missing, writes a
# containers.conf (runc + explicit ulimits) and builds local stand-ins for the
# base images with ops/containers/offline-images.sh (cached between runs).
#
# Environment:
#   SMOKE_OFFLINE          auto (default) | 1 | 0
#   SMOKE_HTTP_PORT        host port for the daemon (default 8080, or a free one
#                          when 8080 is taken)
#   SMOKE_CONSOLE_PORT     host port for the browser console (default 8090, or a
#                          free one when 8090 is taken)
#   SMOKE_CORPUS_FILE      file to drop (default examples/corpus/bwb_*.json)
#   SMOKE_HEALTH_TIMEOUT   seconds to wait for /health 200 (default 150)
#   SMOKE_FEED_TIMEOUT     seconds to wait for file.processed (default 90)
#   SMOKE_REPLICAS=2       also start the `replica` profile (a second daemon on
#                          the same database and folders) and check that the
#                          file is processed exactly once
#   SMOKE_KEEP=1           skip `down -v` (debugging; prints how to clean up)
# Exit status 0 only if every check passed.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PROJECT="eventdedup_smoke"
UPSTREAM_PYTHON_IMAGE="docker.io/library/python:3.12-slim-bookworm"
UPSTREAM_POSTGRES_IMAGE="docker.io/library/postgres:16-alpine"
HEALTH_TIMEOUT="${SMOKE_HEALTH_TIMEOUT:-150}"
FEED_TIMEOUT="${SMOKE_FEED_TIMEOUT:-90}"
DB_TIMEOUT=90
T0=$SECONDS
declare -a SUMMARY=()
FEED_PID=""
REPLICA=""
STARTED=0
FAILED_AT=""

log() { printf '[smoke %3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
fail() { FAILED_AT="$*"; log "FAIL: $*"; exit 1; }
step_ok() { SUMMARY+=("ok   $(printf '%4ds' "$((SECONDS - T0))")  $*"); log "ok: $*"; }

# ------------------------------------------------------------------ tooling
OFFLINE="${SMOKE_OFFLINE:-auto}"

if [[ $OFFLINE != 0 ]] && ! command -v podman >/dev/null; then
    # nothing installed yet: the offline helper installs the tools
    bash ops/containers/offline-images.sh tools
fi
command -v podman >/dev/null || fail "podman is not installed"

if podman compose version >/dev/null 2>&1; then
    COMPOSE=(podman compose)
elif command -v podman-compose >/dev/null; then
    COMPOSE=(podman-compose)
elif [[ -x ${PODMAN_COMPOSE_VENV:-/opt/podman-compose}/bin/podman-compose ]]; then
    COMPOSE=("${PODMAN_COMPOSE_VENV:-/opt/podman-compose}/bin/podman-compose")
else
    bash ops/containers/offline-images.sh tools
    COMPOSE=("${PODMAN_COMPOSE_VENV:-/opt/podman-compose}/bin/podman-compose")
fi

# no systemd: podman cannot schedule healthchecks itself; silence its warning
[[ -d /run/systemd/system ]] || export DISABLE_HC_SYSTEMD=true
# keep HEALTHCHECK in the built image (OCI format drops it)
export BUILDAH_FORMAT=docker

if [[ $OFFLINE == auto ]]; then
    have_or_pull() {
        podman image exists "$1" || timeout 180 podman pull -q "$1" >/dev/null 2>&1
    }
    if have_or_pull "${PYTHON_IMAGE:-$UPSTREAM_PYTHON_IMAGE}" \
        && have_or_pull "${POSTGRES_IMAGE:-$UPSTREAM_POSTGRES_IMAGE}"; then
        OFFLINE=0
    else
        OFFLINE=1
        log "base images cannot be pulled: offline mode"
    fi
fi

if [[ $OFFLINE == 1 ]]; then
    bash ops/containers/offline-images.sh tools
    if [[ -z ${CONTAINERS_CONF:-} ]]; then
        CONTAINERS_CONF="$(bash ops/containers/offline-images.sh conf)"
        export CONTAINERS_CONF
    fi
    bash ops/containers/offline-images.sh images
    export PYTHON_IMAGE="${PYTHON_IMAGE:-localhost/eventdedup-python:3.11}"
    export POSTGRES_IMAGE="${POSTGRES_IMAGE:-localhost/eventdedup-postgres:15}"
    step_ok "offline base images ready ($PYTHON_IMAGE, $POSTGRES_IMAGE)"
fi
export PYTHON_IMAGE="${PYTHON_IMAGE:-$UPSTREAM_PYTHON_IMAGE}"
export POSTGRES_IMAGE="${POSTGRES_IMAGE:-$UPSTREAM_POSTGRES_IMAGE}"

# ------------------------------------------------------------- the project
CORPUS_FILE="${SMOKE_CORPUS_FILE:-}"
if [[ -z $CORPUS_FILE ]]; then
    corpus=("$ROOT"/examples/corpus/bwb_*.json)
    CORPUS_FILE="${corpus[0]}"
fi
[[ -n $CORPUS_FILE && -f $CORPUS_FILE ]] \
    || fail "no corpus file (expected examples/corpus/bwb_*.json or SMOKE_CORPUS_FILE)"

port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT="${SMOKE_HTTP_PORT:-8080}"
if [[ -z ${SMOKE_HTTP_PORT:-} ]] && ! port_free "$PORT"; then
    PORT="$(free_port)"
    log "port 8080 is taken on this host; publishing on $PORT instead"
fi
CONSOLE_PORT="${SMOKE_CONSOLE_PORT:-8090}"
if [[ -z ${SMOKE_CONSOLE_PORT:-} ]] && { ! port_free "$CONSOLE_PORT" || [[ $CONSOLE_PORT == "$PORT" ]]; }; then
    CONSOLE_PORT="$(free_port)"
    log "port 8090 is taken on this host; publishing the console on $CONSOLE_PORT instead"
fi
REPLICAS="${SMOKE_REPLICAS:-1}"
[[ $REPLICAS == 1 || $REPLICAS == 2 ]] || fail "SMOKE_REPLICAS must be 1 or 2"
PROFILE_ARGS=()
REPLICA_PORT=""
if [[ $REPLICAS == 2 ]]; then
    PROFILE_ARGS=(--profile replica)
    REPLICA_PORT=8081
    port_free "$REPLICA_PORT" && [[ $REPLICA_PORT != "$PORT" ]] || REPLICA_PORT="$(free_port)"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/eventdedup-smoke.XXXXXX")"
chmod 0755 "$WORK"
mkdir -p "$WORK/inbox" "$WORK/dead_letters" "$WORK/archive"
# the daemon runs as uid 10001 in the container: let it move files around
chmod 0777 "$WORK/inbox" "$WORK/dead_letters" "$WORK/archive"
python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$WORK/admin_token"
chmod 0444 "$WORK/admin_token"
LOG="$WORK/compose.log"

export COMPOSE_PROJECT_NAME="$PROJECT"
export POSTGRES_USER="eventdedup"
export POSTGRES_DB="eventdedup"
POSTGRES_PASSWORD="smoke$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
export POSTGRES_PASSWORD
# the daemon rejects unknown EVENT_DEDUP_* names, and so would the host-side
# `eventdedup feed`: keep the caller's settings out of this run
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^EVENT_DEDUP_' || true)
# (and the deprecated spelling of compose's host-side names, which would otherwise
# fill in for any of ours left unset)
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^EVENTDEDUP_' || true)
# compose's host-side names (compose.yaml); the daemon and `eventdedup feed` ignore them
export EVENT_DEDUP_INBOX="$WORK/inbox"
export EVENT_DEDUP_DEAD_LETTERS="$WORK/dead_letters"
export EVENT_DEDUP_ARCHIVE="$WORK/archive"
export EVENT_DEDUP_TOKEN_SECRET="$WORK/admin_token"
export EVENT_DEDUP_PUBLISH_PORT="$PORT"
export EVENT_DEDUP_CONSOLE_PUBLISH_PORT="$CONSOLE_PORT"
export EVENT_DEDUP_IMAGE="localhost/eventdedup:smoke"
[[ -z $REPLICA_PORT ]] || export EVENT_DEDUP_REPLICA_PUBLISH_PORT="$REPLICA_PORT"

compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$ROOT/compose.yaml" "${PROFILE_ARGS[@]}" "$@"; }

container_of() {
    podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1
}

dump_logs() {
    local svc c
    for svc in db eventdedup eventdedup-replica console; do
        c="$(container_of "$svc" 2>/dev/null || true)"
        [[ -n $c ]] || continue
        printf '\n----- logs of %s (%s), last 80 lines -----\n' "$svc" "$c" >&2
        podman logs --tail 80 "$c" >&2 2>&1 || true
    done
    if [[ -s $LOG ]]; then
        printf '\n----- compose output, last 40 lines -----\n' >&2
        tail -n 40 "$LOG" >&2
    fi
    if [[ -s $WORK/feed.log ]]; then
        printf '\n----- websocket feed, last 20 lines -----\n' >&2
        tail -n 20 "$WORK/feed.log" >&2
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $FEED_PID ]]; then kill -- "-$FEED_PID" 2>/dev/null || kill "$FEED_PID" 2>/dev/null || true; fi
    if ((rc != 0)) && ((STARTED)); then dump_logs; fi
    if [[ ${SMOKE_KEEP:-0} == 1 ]]; then
        log "SMOKE_KEEP=1: left running; clean up with: ${COMPOSE[*]} -p $PROJECT down -v; rm -rf $WORK"
    else
        log "tearing down (down -v)"
        compose down -v -t 15 >>"$LOG" 2>&1 || log "warning: down -v failed"
        rm -rf "$WORK" 2>/dev/null || podman unshare rm -rf "$WORK" 2>/dev/null || true
    fi
    printf '\n===== eventdedup compose smoke: %s in %ds (%s, %s) =====\n' \
        "$( ((rc == 0)) && echo PASSED || echo FAILED)" "$((SECONDS - T0))" \
        "$([[ $OFFLINE == 1 ]] && echo offline || echo online)" "${COMPOSE[*]}" >&2
    local line
    for line in "${SUMMARY[@]}"; do printf '  %s\n' "$line" >&2; done
    [[ -z $FAILED_AT ]] || printf '  FAIL  %s\n' "$FAILED_AT" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "compose: ${COMPOSE[*]}; python base: $PYTHON_IMAGE; postgres: $POSTGRES_IMAGE"
# leftovers of an interrupted earlier run
compose down -v -t 5 >>"$LOG" 2>&1 || true

# ------------------------------------------------------------------- build
log "building the eventdedup image"
compose build eventdedup >>"$LOG" 2>&1 || { tail -n 60 "$LOG" >&2; fail "image build failed"; }
step_ok "image built ($EVENT_DEDUP_IMAGE)"
# earlier builds of the app image, untagged by this one (the build-stage
# layers stay: they are the cache of the next build)
podman image prune -f --filter "label=org.opencontainers.image.title=eventdedup" >/dev/null 2>&1 || true

# --------------------------------------------------------------------- db
STARTED=1
compose up -d db >>"$LOG" 2>&1 || fail "compose up db failed"
DB="$(container_of db)"
[[ -n $DB ]] || fail "db container not found"
# podman 4.3 cannot wait for "healthy" itself: run the healthcheck by hand
deadline=$((SECONDS + DB_TIMEOUT))
until podman healthcheck run "$DB" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "db not healthy after ${DB_TIMEOUT}s"
    sleep 1
done
step_ok "db healthy ($DB)"

# ----------------------------------------------------------------- daemon
compose up -d >>"$LOG" 2>&1 || fail "compose up failed"
APP="$(container_of eventdedup)"
[[ -n $APP ]] || fail "eventdedup container not found"
health_status() {
    python3 - "http://127.0.0.1:$1/health" <<'EOF'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        print(r.status, r.read(300).decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read(300).decode(errors="replace"))
except Exception as e:
    print(0, type(e).__name__)
EOF
}
wait_healthy() {  # PORT CONTAINER
    local port="$1" container="$2" status deadline=$((SECONDS + HEALTH_TIMEOUT))
    while :; do
        status="$(health_status "$port")"
        [[ $status == 200\ * ]] && break
        ((SECONDS < deadline)) \
            || fail "GET http://127.0.0.1:$port/health not 200 after ${HEALTH_TIMEOUT}s (last: $status)"
        sleep 1
    done
    log "health ($container): ${status:0:200}"
    step_ok "GET /health 200 on 127.0.0.1:$port"
    podman healthcheck run "$container" >/dev/null 2>&1 \
        || fail "podman healthcheck run $container failed although /health answers 200"
    step_ok "container healthcheck passes ($container)"
}
wait_healthy "$PORT" "$APP"
if [[ $REPLICAS == 2 ]]; then
    REPLICA="$(container_of eventdedup-replica)"
    [[ -n $REPLICA ]] || fail "eventdedup-replica container not found"
    wait_healthy "$REPLICA_PORT" "$REPLICA"
fi

# --------------------------------------------------------- websocket feed
TOKEN="$(cat "$WORK/admin_token")"
WS_URL="ws://127.0.0.1:$PORT/ws"
: >"$WORK/feed.log"
# the project's own venv on the host: through uv, or the .venv it made
if command -v uv >/dev/null; then
    IN_VENV=(uv run --frozen -q)
else
    IN_VENV=(env PATH="$ROOT/.venv/bin:$PATH")
fi
if "${IN_VENV[@]}" eventdedup feed --help >/dev/null 2>&1; then
    FEED_CMD=("${IN_VENV[@]}" eventdedup feed --url "$WS_URL" --after 0)
    FEED_HOW="eventdedup feed"
else
    # fallback: a minimal trio-websocket client from the project's own venv
    FEED_CMD=("${IN_VENV[@]}" python - "$WS_URL?after=0")
    FEED_HOW="inline trio-websocket client"
fi
log "following $WS_URL with $FEED_HOW"
EVENT_DEDUP_ADMIN_TOKEN="$TOKEN" setsid "${FEED_CMD[@]}" >"$WORK/feed.log" 2>"$WORK/feed.err" <<'EOF' &
import json, os, sys
import trio
from trio_websocket import open_websocket_url

async def main():
    headers = [(b"authorization", f"Bearer {os.environ['EVENT_DEDUP_ADMIN_TOKEN']}".encode())]
    async with open_websocket_url(sys.argv[1], extra_headers=headers) as ws:
        while True:
            print(await ws.get_message(), flush=True)

trio.run(main)
EOF
FEED_PID=$!

# ------------------------------------------------------------- drop a file
NAME="$(basename "$CORPUS_FILE")"
cp "$CORPUS_FILE" "$WORK/inbox/.$NAME.tmp"
chmod 0644 "$WORK/inbox/.$NAME.tmp"
mv "$WORK/inbox/.$NAME.tmp" "$WORK/inbox/$NAME"
log "dropped $NAME into the inbox"

feed_result() {
    python3 - "$WORK/feed.log" "$NAME" <<'EOF'
import json, sys
path, name = sys.argv[1], sys.argv[2]
for line in open(path, encoding="utf-8", errors="replace"):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    data = msg.get("data") or {}
    if data.get("file") != name:
        continue
    if msg.get("type") == "file.processed":
        print("processed", json.dumps(data, ensure_ascii=False)[:300])
        sys.exit(0)
    if msg.get("type") == "file.failed":
        print("failed", json.dumps(data, ensure_ascii=False)[:300])
        sys.exit(0)
print("waiting")
EOF
}
deadline=$((SECONDS + FEED_TIMEOUT))
while :; do
    result="$(feed_result)"
    case "$result" in
        processed*) break ;;
        failed*) fail "the daemon dead-lettered $NAME: ${result#failed }" ;;
    esac
    if ! kill -0 "$FEED_PID" 2>/dev/null; then
        cat "$WORK/feed.err" >&2 || true
        fail "the feed client exited"
    fi
    ((SECONDS < deadline)) || { tail -n 20 "$WORK/feed.err" >&2 || true; \
        fail "no file.processed for $NAME on the feed within ${FEED_TIMEOUT}s"; }
    sleep 1
done
log "feed: ${result#processed }"
step_ok "file.processed for $NAME on the websocket ($FEED_HOW)"

# ---------------------------------------------------------- stored events
psql_count() {
    podman exec "$DB" psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$1" 2>/dev/null | tr -d '[:space:]'
}
count="$(psql_count 'select count(*) from source_events')"
{ [[ $count =~ ^[0-9]+$ ]] && ((count >= 1)); } || fail "source_events count is '${count}', expected >= 1"
step_ok "$count rows in source_events"
if [[ $REPLICAS == 2 ]]; then
    # give the other replica a chance to (wrongly) process it a second time
    sleep 3
    files="$(psql_count "select count(*) from file_ingestions where filename = '$NAME'")"
    [[ $files == 1 ]] || fail "$NAME was ingested $files times by two replicas, expected once"
    step_ok "processed exactly once with two replicas (by $(psql_count \
        "select replica from file_ingestions where filename = '$NAME'"))"
fi

deadline=$((SECONDS + 15))
until [[ -e $WORK/archive/$NAME && ! -e $WORK/inbox/$NAME ]]; do
    ((SECONDS < deadline)) || fail "$NAME was not moved from the inbox to the archive"
    sleep 0.5
done
step_ok "$NAME moved to the archive"

# ------------------------------------------------------ console in a browser
console_status() {  # AUTHORIZATION-HEADER-OR-EMPTY
    python3 - "http://127.0.0.1:$CONSOLE_PORT/" "$1" <<'EOF'
import sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1])
if sys.argv[2]:
    request.add_header("Authorization", sys.argv[2])
try:
    with urllib.request.urlopen(request, timeout=3) as r:
        body = r.read().decode(errors="replace")
        print(r.status, "console" if "textual-terminal" in body else "no-console")
except urllib.error.HTTPError as e:
    body = e.read().decode(errors="replace")
    print(e.code, "console" if "textual-terminal" in body else "no-console")
except Exception as e:
    print(0, type(e).__name__)
EOF
}
deadline=$((SECONDS + HEALTH_TIMEOUT))
until [[ "$(console_status "")" != 0\ * ]]; do
    ((SECONDS < deadline)) || fail "the console on 127.0.0.1:$CONSOLE_PORT does not answer"
    sleep 1
done
status="$(console_status "")"
[[ $status == "401 no-console" ]] || fail "console without a token: '$status', expected 401"
status="$(console_status "Bearer wrong-$TOKEN")"
[[ $status == "401 no-console" ]] || fail "console with a wrong token: '$status', expected 401"
status="$(console_status "Bearer $TOKEN")"
[[ $status == "200 console" ]] || fail "console with the token: '$status', expected 200"
step_ok "console on 127.0.0.1:$CONSOLE_PORT: 401 without/with a wrong token, 200 with it"
# a browser session: the console process it starts in the container must reach
# the daemon (its actor table lists the processor)
cat >"$WORK/console_session.py" <<'EOF'
import os, re, sys
import trio
from trio_websocket import open_websocket_url

async def main():
    headers = [(b"authorization", f"Bearer {os.environ['EVENT_DEDUP_ADMIN_TOKEN']}".encode())]
    screen = b""
    with trio.move_on_after(90):
        async with open_websocket_url(sys.argv[1], extra_headers=headers) as ws:
            while True:
                message = await ws.get_message()
                if isinstance(message, bytes):
                    screen += message
                text = re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]", "", screen.decode(errors="replace"))
                if "processor" in text and "watcher" in text:
                    print("actor table shown")
                    return
    print(text[-2000:] if screen else "no screen bytes")
    sys.exit(1)

trio.run(main)
EOF
EVENT_DEDUP_ADMIN_TOKEN="$TOKEN" "${IN_VENV[@]}" python "$WORK/console_session.py" \
    "ws://127.0.0.1:$CONSOLE_PORT/ws?width=120&height=40" >"$WORK/console.log" 2>&1 \
    || { tail -c 2000 "$WORK/console.log" >&2; fail "the console session did not show the daemon's actors"; }
step_ok "a console session in the browser container shows the daemon's actor table"

# ---------------------------------------------------------------- SIGTERM
CONSOLE="$(container_of console)"
[[ -n $CONSOLE ]] || fail "console container not found"
for c in "$CONSOLE" "$APP" ${REPLICA:+"$REPLICA"}; do
    stop_start=$SECONDS
    podman stop -t 15 "$c" >/dev/null 2>&1 || fail "podman stop $c failed"
    stop_secs=$((SECONDS - stop_start))
    exit_code="$(podman inspect --format '{{.State.ExitCode}}' "$c" 2>/dev/null || echo '?')"
    if ((stop_secs >= 10)); then
        fail "$c took ${stop_secs}s to stop on SIGTERM (killed? exit code $exit_code)"
    fi
    step_ok "$c stopped on SIGTERM in ${stop_secs}s (exit code $exit_code)"
done

log "all checks passed"
