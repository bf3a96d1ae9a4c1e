#!/bin/bash
# docker2010.sh fetch|start|stop|env: a private Docker 20.10 (Debian bookworm's docker.io 20.10.24 with its
# embedded BuildKit, and containerd 1.6) for the bench's "docker 20.10" column (issue 15: the unchanged rebuild
# against both BuildKits). Beside ../shared/reference/buildkit.sh (Docker 26.1, BuildKit v0.13), on the same
# terms: the .debs come through a private apt list (the machine's apt configuration is untouched) and are
# unpacked under $D2010_DIR; the daemon has its own data root, exec root, socket and pid file, no bridge and no
# iptables (builds use --network host). Docker 20.10 has no buildx here: `DOCKER_BUILDKIT=1 $DOCKER build`
# is its BuildKit path. Needs root.
#   D2010_DIR  binaries and data (default /var/cache/tsbuild-docker2010)
#   D2010_RUN  socket, pid and log (default /tmp/tsbuild-docker2010)
# `env` prints `DOCKER_HOST=... DOCKER_BUILDKIT=1 DOCKER=...`.
set -euo pipefail
D2010_DIR=${D2010_DIR:-/var/cache/tsbuild-docker2010}; D2010_RUN=${D2010_RUN:-/tmp/tsbuild-docker2010}
ROOT=$D2010_DIR/root; DOCKER=$ROOT/usr/bin/docker; SOCK=unix://$D2010_RUN/docker.sock
APT=(-o Dir::Etc::SourceList=$D2010_DIR/sources.list -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists=$D2010_DIR/lists -o Dir::Cache=$D2010_DIR/cache -o Debug::NoLocking=1)
fetch() {
  [ -x "$ROOT/usr/sbin/dockerd" ] && [ -x "$ROOT/usr/bin/containerd" ] && return 0
  mkdir -p "$D2010_DIR/lists/partial" "$D2010_DIR/cache/archives/partial" "$D2010_DIR/debs"
  mirror=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
           /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 | awk '{print $NF}' || true)
  [ -n "$mirror" ] || { echo "no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "deb $mirror bookworm main" > "$D2010_DIR/sources.list"
  apt-get "${APT[@]}" update -qq
  (cd "$D2010_DIR/debs" && apt-get "${APT[@]}" download docker.io containerd 2>&1 | grep -v unsandboxed || true)
  for d in "$D2010_DIR"/debs/*.deb; do dpkg -x "$d" "$ROOT"; done
  [ -x "$ROOT/usr/sbin/dockerd" ] || { echo "docker.io 20.10 could not be fetched from $mirror" >&2; exit 1; }
}
case "${1:-}" in
fetch) fetch ;;
start)
  fetch; mkdir -p "$D2010_RUN"
  if [ -f "$D2010_RUN/pid" ] && kill -0 "$(cat "$D2010_RUN/pid")" 2>/dev/null; then exit 0; fi
  # Its own containerd (dockerd 20.10 starts one under its exec root when given none); runc is the machine's.
  PATH=$ROOT/usr/bin:$ROOT/usr/sbin:$PATH nohup "$ROOT/usr/sbin/dockerd" --data-root "$D2010_DIR/data" \
    --exec-root "$D2010_RUN/exec" --pidfile "$D2010_RUN/dockerd.pid" -H "$SOCK" --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false --bridge=none --userland-proxy=false --storage-driver=overlay2 \
    >"$D2010_RUN/log" 2>&1 &
  echo $! > "$D2010_RUN/pid"
  for _ in $(seq 120); do
    DOCKER_HOST=$SOCK "$DOCKER" info >/dev/null 2>&1 && exit 0; sleep 0.5
  done
  echo "docker 20.10 did not start; tail of $D2010_RUN/log:" >&2; tail -20 "$D2010_RUN/log" >&2; exit 1 ;;
stop)
  if [ -f "$D2010_RUN/pid" ]; then kill "$(cat "$D2010_RUN/pid")" 2>/dev/null || true; rm -f "$D2010_RUN/pid"; fi ;;
env) echo "DOCKER_HOST=$SOCK DOCKER_BUILDKIT=1 DOCKER=$DOCKER" ;;
*) echo "usage: $0 fetch|start|stop|env" >&2; exit 2 ;;
esac
