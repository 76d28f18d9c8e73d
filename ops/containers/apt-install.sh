#!/bin/sh
# apt-get install for the stand-in image builds. When the build offers the
# prefetched apt lists and .deb files (offline-images.sh mounts them read-only
# at /var/cache/prefetch), use them instead of downloading one file at a time;
# otherwise, or if they do not fit, fall back to a plain update + install.
set -eu
export DEBIAN_FRONTEND=noninteractive
prefetch=/var/cache/prefetch
if [ -d "$prefetch/lists" ] && [ -d "$prefetch/debs" ]; then
    cp -a "$prefetch/lists/." /var/lib/apt/lists/
    rm -f /var/lib/apt/lists/lock
    find "$prefetch/debs" -maxdepth 1 -name '*.deb' -exec cp -t /var/cache/apt/archives/ {} +
    apt-get install -y -q --no-install-recommends "$@" \
        || { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; }
else
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@"
fi
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin
