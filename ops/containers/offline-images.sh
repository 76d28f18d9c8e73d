#!/usr/bin/env bash
# Prepare a machine that reaches no container registry (only Debian and PyPI)
# for building and running the compose stack with podman.
#
#   tools     install podman, runc, mmdebstrap/debootstrap (apt) and
#             podman-compose 1.6.0 (PyPI, own venv /opt/podman-compose) if missing
#   conf      write a containers.conf (runc, explicit ulimits); print its path
#   images    build, each only when its inputs changed (label with a hash):
#               localhost/debian:bookworm          minbase rootfs + host CA certs
#               localhost/eventdedup-python:3.11   python.Containerfile
#               localhost/eventdedup-postgres:15   postgres.Containerfile
#   all       tools + conf + images (default)
#
# Speed: the Debian mirror answers every request after a noticeable delay, so
# apt's one-at-a-time downloads dominate a cold build. All .deb files the three
# images need are resolved once (a private apt state, empty dpkg status) and
# fetched in parallel by fetch-debs.py into a cache; the rootfs bootstrap and
# the stand-in builds then find them already downloaded.
#
# Use the result with:
#   export CONTAINERS_CONF=$(ops/containers/offline-images.sh conf)
#   export PYTHON_IMAGE=localhost/eventdedup-python:3.11
#   export POSTGRES_IMAGE=localhost/eventdedup-postgres:15
#
# Environment:
#   EVENTDEDUP_CONTAINERS_DIR  state/cache dir (default /var/tmp/eventdedup-containers)
#   PODMAN_COMPOSE_VENV        venv for podman-compose (default /opt/podman-compose)
#   DEBIAN_MIRROR              Debian mirror (default: the host's apt sources)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${EVENTDEDUP_CONTAINERS_DIR:-/var/tmp/eventdedup-containers}"
PODMAN_COMPOSE_VENV="${PODMAN_COMPOSE_VENV:-/opt/podman-compose}"
PODMAN_COMPOSE_VERSION="1.6.0"
SUITE="bookworm"
BASE_IMAGE="localhost/debian:bookworm"
PYTHON_STANDIN="localhost/eventdedup-python:3.11"
POSTGRES_STANDIN="localhost/eventdedup-postgres:15"
# what the stand-ins install; keep in sync with the Containerfiles
PYTHON_PACKAGES="python3 python3-venv python3-pip"
POSTGRES_PACKAGES="postgresql-15"
HASH_LABEL="org.eventdedup.inputs-sha256"
APT_DIR="$STATE_DIR/apt"   # private apt state: sources, lists, .deb cache

log() { printf '[offline-images %3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf '[offline-images] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root for: $*"; fi
}

# ------------------------------------------------------------------- tools
ensure_tools() {
    local missing=() tool
    for tool in podman runc debootstrap mmdebstrap; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get"
        log "installing ${missing[*]} from Debian"
        # a third-party source that cannot be reached must not stop the install
        as_root apt-get update -q >/dev/null 2>&1 || log "apt-get update reported errors; trying anyway"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            "${missing[@]}" >/dev/null
    fi
    # podman 4.3 has no `podman compose`; a podman-compose on PATH or in the
    # venv is fine, else install the pinned one into its own venv.
    if podman compose version >/dev/null 2>&1 || command -v podman-compose >/dev/null \
        || [[ -x $PODMAN_COMPOSE_VENV/bin/podman-compose ]]; then
        return 0
    fi
    log "installing podman-compose $PODMAN_COMPOSE_VERSION into $PODMAN_COMPOSE_VENV"
    local py
    for py in python3 /usr/bin/python3; do
        if "$py" -m venv "$PODMAN_COMPOSE_VENV" >/dev/null 2>&1; then break; fi
        rm -rf "$PODMAN_COMPOSE_VENV"
    done
    if [[ -x $PODMAN_COMPOSE_VENV/bin/python ]]; then
        "$PODMAN_COMPOSE_VENV/bin/python" -m pip install -q \
            "podman-compose==$PODMAN_COMPOSE_VERSION"
    else
        command -v uv >/dev/null || die "cannot create a venv for podman-compose"
        uv venv -q "$PODMAN_COMPOSE_VENV"
        uv pip install -q --python "$PODMAN_COMPOSE_VENV/bin/python" \
            "podman-compose==$PODMAN_COMPOSE_VERSION"
    fi
}

# -------------------------------------------------------- containers.conf
write_conf() {
    # crun refuses this machine's hybrid cgroup setup; runc needs explicit
    # ulimits. Only for machines where podman's defaults start no container.
    mkdir -p "$STATE_DIR"
    local conf="$STATE_DIR/containers.conf" hard tmp
    hard="$(ulimit -Hn)"
    [[ $hard == unlimited ]] && hard=1048576
    tmp="$(mktemp "$STATE_DIR/.containers.conf.XXXXXX")"
    cat >"$tmp" <<EOF
# written by ops/containers/offline-images.sh
[containers]
default_ulimits = ["nofile=$hard:$hard", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
    mv -f "$tmp" "$conf"
    printf '%s\n' "$conf"
}

# ------------------------------------------------------------ apt helpers
debian_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then printf '%s\n' "${DEBIAN_MIRROR%/}"; return; fi
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        uri="$(awk -v s="$SUITE" '/^URIs:/ {u=$2} /^Suites:/ && $0 ~ (" " s "( |$)") && u {print u; exit}' "$f")"
        if [[ -n $uri ]]; then printf '%s\n' "${uri%/}"; return; fi
    done
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk -v s="$SUITE" '$1=="deb" && $3==s {print $2; exit}')"
    uri="${uri:-http://deb.debian.org/debian}"
    printf '%s\n' "${uri%/}"
}

sources_list() {
    local mirror="$1"
    printf 'deb %s %s main\n' "$mirror" "$SUITE" "$mirror" "$SUITE-updates"
    printf 'deb %s-security %s-security main\n' "$mirror" "$SUITE"
}

APT_OPTS=()
apt_private() {
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
    : >"$APT_DIR/status"
    sources_list "$(debian_mirror)" >"$APT_DIR/sources.list"
    APT_OPTS=(
        -o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::State::status=$APT_DIR/status"
        -o "Dir::Cache=$APT_DIR/cache" -o "Acquire::Languages=none"
        -o "APT::Install-Recommends=false" -o "Debug::NoLocking=1"
        -o "APT::Architecture=$(dpkg --print-architecture)"
    )
}

prefetch_debs() {
    # resolve everything the three images install from an empty system, then
    # download it in parallel; apt later finds the files in its cache
    apt_private
    apt-get -q "${APT_OPTS[@]}" update >"$APT_DIR/update.log" 2>&1 \
        || { cat "$APT_DIR/update.log" >&2; die "apt-get update (private state) failed"; }
    local required
    required="$(apt-cache "${APT_OPTS[@]}" dumpavail \
        | awk '/^Package:/ {p=$2} /^Priority: required/ {print p}' | sort -u)"
    # shellcheck disable=SC2086
    apt-get -qq "${APT_OPTS[@]}" --print-uris install $required apt ca-certificates \
        $PYTHON_PACKAGES $POSTGRES_PACKAGES >"$APT_DIR/uris.txt" \
        || die "cannot resolve the packages of the offline images"
    python3 "$HERE/fetch-debs.py" "$APT_DIR/debs" 12 <"$APT_DIR/uris.txt" \
        || die "downloading .deb files failed"
}

# --------------------------------------------------------------- images
image_hash() {
    podman image inspect --format "{{index .Config.Labels \"$HASH_LABEL\"}}" "$1" 2>/dev/null || true
}

host_ca_certs() {
    # CA certificates added locally on the host (e.g. for TLS interception)
    find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort
}

base_inputs_hash() {
    (echo "$SUITE minbase v3"; debian_mirror; host_ca_certs | xargs -r cat) | sha256sum | cut -c1-64
}

standin_hash() {
    local file="$1"; shift
    (image_hash "$BASE_IMAGE"; cat "$HERE/$file" "$@") | sha256sum | cut -c1-64
}

images_up_to_date() {
    [[ "$(image_hash "$BASE_IMAGE")" == "$(base_inputs_hash)" ]] \
        && [[ "$(image_hash "$PYTHON_STANDIN")" == \
              "$(standin_hash python.Containerfile "$HERE/apt-install.sh")" ]] \
        && [[ "$(image_hash "$POSTGRES_STANDIN")" == \
              "$(standin_hash postgres.Containerfile "$HERE/apt-install.sh" \
                  "$HERE/postgres-entrypoint.sh")" ]]
}

build_base() {
    local want mirror root
    want="$(base_inputs_hash)"
    if [[ "$(image_hash "$BASE_IMAGE")" == "$want" ]]; then
        log "$BASE_IMAGE is up to date"; return 0
    fi
    mirror="$(debian_mirror)"
    mkdir -p "$STATE_DIR"
    root="$(mktemp -d "$STATE_DIR/rootfs.XXXXXX")"
    if command -v mmdebstrap >/dev/null; then
        log "mmdebstrap $SUITE (minbase, ca-certificates) from $mirror"
        local sources=()
        mapfile -t sources < <(sources_list "$mirror")
        rmdir "$root"
        # shellcheck disable=SC2016  # "$1" is expanded by mmdebstrap's hook shell
        if ! mmdebstrap --quiet --mode=root --variant=minbase --include=ca-certificates \
            --skip=download/empty \
            --aptopt='Acquire::Languages "none"' \
            --aptopt='APT::Install-Recommends "false"' \
            --aptopt='APT::Install-Suggests "false"' \
            --dpkgopt='force-unsafe-io' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
            --setup-hook="cp $APT_DIR/debs/*.deb \"\$1\"/var/cache/apt/archives/ 2>/dev/null || true" \
            "$SUITE" "$root" "${sources[@]}" >"$STATE_DIR/bootstrap.log" 2>&1; then
            tail -n 30 "$STATE_DIR/bootstrap.log" >&2
            rm -rf "$root"
            die "mmdebstrap failed"
        fi
    else
        log "debootstrap $SUITE (minbase, ca-certificates) from $mirror"
        if ! debootstrap --variant=minbase --include=ca-certificates \
            --cache-dir="$APT_DIR/debs" "$SUITE" "$root" "$mirror" \
            >"$STATE_DIR/bootstrap.log" 2>&1; then
            tail -n 30 "$STATE_DIR/bootstrap.log" >&2
            rm -rf "$root"
            die "debootstrap failed"
        fi
        sources_list "$mirror" >"$root/etc/apt/sources.list"
        printf 'force-unsafe-io\n' >"$root/etc/dpkg/dpkg.cfg.d/90eventdedup-unsafe-io"
        printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' \
            >"$root/etc/apt/apt.conf.d/90eventdedup"
    fi
    local crt
    while IFS= read -r crt; do
        cp "$crt" "$root/usr/local/share/ca-certificates/"
    done < <(host_ca_certs)
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/var/log/*.log "$root"/tmp/*
    log "importing $BASE_IMAGE"
    tar --numeric-owner -C "$root" -c . \
        | podman import --quiet --change "LABEL $HASH_LABEL=$want" --change 'CMD ["/bin/bash"]' \
            - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
}

build_standin() {
    local tag="$1" file="$2"; shift 2
    local want
    want="$(standin_hash "$file" "$@")"
    if [[ "$(image_hash "$tag")" == "$want" ]]; then
        log "$tag is up to date"; return 0
    fi
    log "building $tag"
    # the prefetched apt lists and .debs are offered read-only at /var/cache/prefetch
    # (the Containerfiles fall back to plain apt-get when it is absent)
    podman build --pull=never --format docker --label "$HASH_LABEL=$want" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --volume "$APT_DIR:/var/cache/prefetch:ro" \
        -t "$tag" -f "$HERE/$file" "$HERE" >"$STATE_DIR/build-${file%%.*}.log" 2>&1 \
        || { tail -n 30 "$STATE_DIR/build-${file%%.*}.log" >&2; die "building $tag failed"; }
    log "built $tag"
}

build_images() {
    mkdir -p "$STATE_DIR"
    if images_up_to_date; then
        log "offline images are up to date"; return 0
    fi
    log "prefetching .deb files"
    prefetch_debs
    build_base
    # the two stand-ins build in parallel
    build_standin "$PYTHON_STANDIN" python.Containerfile "$HERE/apt-install.sh" &
    local py_pid=$! rc=0
    build_standin "$POSTGRES_STANDIN" postgres.Containerfile "$HERE/apt-install.sh" \
        "$HERE/postgres-entrypoint.sh" || rc=1
    wait "$py_pid" || rc=1
    ((rc == 0)) || die "building the stand-in images failed"
}

main() {
    local cmd="${1:-all}"
    case "$cmd" in
        tools) ensure_tools ;;
        conf) write_conf ;;
        images)
            if [[ -z ${CONTAINERS_CONF:-} ]]; then CONTAINERS_CONF="$(write_conf)"; export CONTAINERS_CONF; fi
            build_images ;;
        all)
            ensure_tools
            if [[ -z ${CONTAINERS_CONF:-} ]]; then CONTAINERS_CONF="$(write_conf)"; export CONTAINERS_CONF; fi
            build_images
            log "done; use: export CONTAINERS_CONF=$CONTAINERS_CONF" \
                "PYTHON_IMAGE=$PYTHON_STANDIN POSTGRES_IMAGE=$POSTGRES_STANDIN" ;;
        *) die "usage: $0 [tools|conf|images|all]" ;;
    esac
}

main "$@"
