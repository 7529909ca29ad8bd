#!/usr/bin/env bash
# CI step "interop": run every test marked `interop` against the REAL OpenClaw releases
# sessionctl is verified with (2026.5.28 and the lock-era 2026.4.15).
#
# usage: interop/ci.sh [PYTHON] [PYTEST_ARGS...]
#   PYTHON       the interpreter of a venv where sessionctl and its test extras are
#                installed (default: python), e.g. .ci/venv/bin/python
#   PYTEST_ARGS  passed on to pytest (e.g. -x)
#
# 1. installs Node 24 and both OpenClaw releases with interop/install.sh: idempotent,
#    cached in ${SESSIONCTL_INTEROP_CACHE:-$HOME/.cache/sessionctl-interop} (cache that
#    folder between CI runs: a warm install takes well under a second and needs no
#    network; a cold one ~2 min and the npm registry);
# 2. runs `SESSIONCTL_INTEROP=1 PYTHON -m pytest -q -m interop tests`.
#
# Fails (non-zero) when an install fails -- e.g. the npm registry is unreachable and
# nothing is cached (exit 5) -- when pytest fails or collects nothing, or when any
# interop test was skipped: the interop step never passes without having run.
# Prints the time of each step. Budget: ~20 min on a 2-core machine incl. cold installs.
#
# Environment: SESSIONCTL_INTEROP_CACHE (cache root), SESSIONCTL_INTEROP_CI_TIMEOUT
# (seconds allowed for the pytest step, default 1800).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${1:-python}"
if [ "$#" -gt 0 ]; then shift; fi
CACHE="${SESSIONCTL_INTEROP_CACHE:-$HOME/.cache/sessionctl-interop}"
export SESSIONCTL_INTEROP_CACHE="$CACHE"
TEST_TIMEOUT="${SESSIONCTL_INTEROP_CI_TIMEOUT:-1800}"
VERSIONS=(2026.5.28 2026.4.15)

say() { printf 'interop/ci: %s\n' "$*" >&2; }
fail() { printf 'interop/ci: FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

T0=$(now)
timings=()

"$PY" -c 'import sessionctl, pytest' 2>/dev/null \
  || fail "'$PY' cannot import sessionctl and pytest: give the venv's python (pip install -e '.[test]')"

for v in "${VERSIONS[@]}"; do
  t=$(now)
  say "installing OpenClaw $v (cache: $CACHE)"
  set +e
  out="$(bash interop/install.sh "$v")"  # progress and errors go to stderr
  rc=$?
  set -e
  wrapper="$(printf '%s\n' "$out" | tail -n 1)"
  case "$rc" in
    0) ;;
    5) fail "the npm registry is unreachable and OpenClaw $v is not in the cache ($CACHE): the interop tests cannot run. Restore the cache or give this job network access to the npm registry." ;;
    *) fail "interop/install.sh $v exited $rc (see above)" ;;
  esac
  [ -x "$wrapper" ] || fail "interop/install.sh $v printed no usable wrapper (got '$wrapper')"
  timings+=("install $v: $(since "$t")")
  say "OpenClaw $v ready: $wrapper ($(since "$t"))"
done

t=$(now)
report="$(mktemp -t sessionctl-interop-XXXXXX.xml)"
trap 'rm -f "$report"' EXIT
say "running the interop tests with $PY"
set +e
SESSIONCTL_INTEROP=1 timeout --kill-after=30 "$TEST_TIMEOUT" \
  "$PY" -m pytest -q -m interop -p no:cacheprovider --durations=12 --junitxml="$report" tests "$@"
rc=$?
set -e
timings+=("interop tests: $(since "$t")")

summary="$("$PY" - "$report" <<'EOF' 2>/dev/null || true
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print(n["tests"], n["failures"], n["errors"], n["skipped"])
EOF
)"
read -r n_tests n_fail n_err n_skip <<<"${summary:-0 0 0 0}"

say "timings:"
for line in "${timings[@]}"; do say "  $line"; done
say "  total: $(since "$T0")"

if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  fail "the interop tests did not finish within ${TEST_TIMEOUT}s"
fi
[ "$rc" -ne 5 ] || fail "pytest collected no interop test"
[ "$rc" -eq 0 ] || fail "pytest exited $rc ($n_tests tests, $n_fail failed, $n_err errors)"
[ "${n_tests:-0}" -gt 0 ] || fail "no interop test ran"
[ "${n_skip:-0}" -eq 0 ] || fail "$n_skip interop test(s) were skipped: the interop step must run them all"
say "ok: $n_tests interop tests passed"
