#!/usr/bin/env bash
# Generate a real SQLite-era OpenClaw state (written by openclaw@2026.9.6 itself, with one agent
# upgraded from the file era by `openclaw doctor --fix`) for the interop tests, against the
# loopback fake model (interop/fake_model.py). Adapted from the generator of the SQLite-era spec.
#
# usage: interop/gen_sqlite_state.sh NEW_OPENCLAW OLD_OPENCLAW OUT_STATE_DIR
#   NEW_OPENCLAW  wrapper of the SQLite-era release (interop/install.sh 2026.9.6)
#   OLD_OPENCLAW  wrapper of the file-era release (interop/install.sh 2026.5.28)
#   OUT_STATE_DIR the state dir to create (must not exist); logs go to OUT_STATE_DIR.gen/
#
# What it makes, every row and file by the real releases (nothing is written by hand):
#   phase 1  file era (2026.5.28): agent `ops` writes sessions.json + JSONL;
#   phase 2  the upgrade: 2026.9.6's `openclaw doctor --fix` imports `ops` into SQLite and
#            rewrites the config (agents.entries);
#   phase 3  SQLite-era embedded turns (`openclaw agent --local`): main, the imported ops
#            session, and an OVERSIZED transcript (one ~560 KB message);
#   phase 4  a real gateway on loopback: turns through it (`openclaw agent`, a few seconds
#            each where an embedded turn starts all of OpenClaw: ~40 s) in main, illarion,
#            marketer and ops: DM, group, channel, thread, cron, hook, subagent and explicit
#            keys, a zstd-compressed event; the peer telegram:direct:777000 talks to `main`
#            (and in phase 5 to `sales`); then reset, compaction, --max-lines compaction,
#            archive, delete (sessions.delete), a SPAWN STORM (24 sessions created through
#            sessions.create under agent:main:explicit:storm-*), and last a turn on a slow
#            model that is still running when the gateway is restarted (`openclaw gateway
#            restart` marks it for restart recovery) and then killed before it resumes it:
#            the RUNNING + ABORTED row the next start would resume;
#   phase 5  the file-era release, still installed with its own file-era config
#            (OPENCLAW_CONFIG_PATH), writes agent `sales`: a file-era store beside the
#            SQLite-era ones — a box mid-upgrade has both kinds (the gateway refuses to start
#            until doctor --fix imports it, as it would import any agent folder it finds).
#
# Each OpenClaw call is bounded by `timeout`; a failure is written to OUT.gen/FAILED and the
# script exits 1 at the end (the tests then refuse to use the state). Network: loopback only.
set -euo pipefail
NEW=$1; OLD=$2; OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
[ -x "$NEW" ] && [ -x "$OLD" ] || { echo "gen_sqlite_state: need two openclaw wrappers" >&2; exit 2; }
[ ! -e "$OUT" ] || { echo "gen_sqlite_state: $OUT exists" >&2; exit 2; }
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
LOG=$OUT.gen; rm -rf "$LOG"; mkdir -p "$LOG"
export OPENCLAW_STATE_DIR=$OUT HOME=$OUT-home OPENCLAW_HOME=$OUT-home
mkdir -p "$HOME"
export OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_TELEMETRY=0 OPENCLAW_NO_AUTO_UPDATE=1 NO_COLOR=1 FORCE_COLOR=0
unset OPENCLAW_CONFIG_PATH OPENCLAW_PROFILE || true
TOKEN=sessionctl-interop-token
export OPENCLAW_GATEWAY_TOKEN=$TOKEN
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG/gen.log" >&2; }
fail() { echo "$*" >>"$LOG/FAILED"; log "  FAILED: $*"; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
start_model() { # start_model NAME [fake_model args...]: prints the port (the server's first stdout line)
  local name=$1; shift
  "$PY" "$HERE/fake_model.py" --port 0 "$@" >"$LOG/$name.port" 2>"$LOG/$name.err" &
  echo $! >"$LOG/$name.pid"
  for _ in $(seq 1 100); do [ -s "$LOG/$name.port" ] && break; sleep 0.1; done
  head -n 1 "$LOG/$name.port"
}
GWPID=
cleanup() {
  if [ -n "$GWPID" ]; then kill -KILL -- "-$GWPID" 2>/dev/null || kill -KILL "$GWPID" 2>/dev/null || true; fi
  for f in "$LOG"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
}
trap cleanup EXIT
PORT=$(start_model fast)
SLOWPORT=$(start_model slow --delay 600)
GWPORT=$(free_port)
export OPENCLAW_GATEWAY_PORT=$GWPORT

# the file-era config shape (agents.list): what an upgraded box has; doctor --fix rewrites it
model() { # model ID PORT
  printf '{ "baseUrl": "http://127.0.0.1:%s/v1", "apiKey": "sk-fake-local", "api": "openai-completions",
    "models": [ { "id": "fake-model", "name": "%s", "reasoning": false, "input": ["text"],
      "cost": {"input":0,"output":0,"cacheRead":0,"cacheWrite":0}, "contextWindow": 1000000, "maxTokens": 4096 } ] }' "$2" "$1"
}
write_config() { # write_config AGENTS_JSON
  cat >"$OUT/openclaw.json" <<JSON
{
  "agents": {
    "defaults": { "model": { "primary": "fake/fake-model" } },
    "list": $1
  },
  "bindings": [
    { "agentId": "illarion", "match": { "channel": "telegram", "peer": { "kind": "direct", "id": "40382952" } } },
    { "agentId": "marketer", "match": { "channel": "discord" } }
  ],
  "session": { "dmScope": "per-channel-peer" },
  "models": { "mode": "merge", "providers": { "fake": $(model fast "$PORT"), "slow": $(model slow "$SLOWPORT") } }
}
JSON
}
write_config '[ { "id": "main", "default": true }, { "id": "illarion" }, { "id": "marketer" }, { "id": "ops" }, { "id": "sales" } ]'
cp "$OUT/openclaw.json" "$LOG/openclaw.json.file-era"  # the old release's own config (phase 2)
write_config '[ { "id": "main", "default": true }, { "id": "illarion" }, { "id": "marketer" }, { "id": "ops" } ]'
cp "$OUT/openclaw.json" "$LOG/openclaw.json.initial"

n=0
oc() { # oc LABEL TIMEOUT WRAPPER ARGS...
  local label=$1 t=$2 bin=$3; shift 3; n=$((n+1))
  local f; f=$(printf '%s/%02d-%s' "$LOG" "$n" "$label")
  log "openclaw $*"
  (cd "$OUT" && timeout "$t" "$bin" "$@" >"$f.out" 2>"$f.err") || fail "rc=$? $label: openclaw $*"
}
turn() { oc "turn-$(echo "$2" | tr ':/' '__' | cut -c1-60)" 300 "$NEW" agent --local --agent "$1" --session-key "$2" --message "$3" --json; }
turnf() { oc "turnf-$(echo "$2" | tr ':/' '__' | cut -c1-60)" 300 "$NEW" agent --local --agent "$1" --session-key "$2" --message-file "$3" --json; }
old_turn() { oc "old-$(echo "$2" | tr ':/' '__' | cut -c1-60)" 300 "$OLD" agent --local --agent "$1" --session-key "$2" --message "$3" --json; }

# ---- phase 1: the file era (2026.5.28)
old_turn ops agent:ops:main "ops standup notes"
old_turn ops agent:ops:telegram:direct:40382952 "same telegram peer, ops agent"
old_turn ops agent:ops:cron:nightly:run:0c0c0c0c-1111-4000-8000-000000000001 "nightly run (legacy)"
(cd "$OUT" && find . -path ./agents -prune -o -type f -print | sort) >"$LOG/files-of-the-file-era.txt"

# ---- phase 2: the upgrade
oc doctor-session-sqlite-dry-run 600 "$NEW" doctor --session-sqlite dry-run --session-sqlite-all-agents --json
oc doctor-fix 900 "$NEW" doctor --fix --non-interactive
(cd "$OUT" && find agents -type f | sort) >"$LOG/files-after-import.txt"

# ---- phase 3: SQLite-era embedded turns (each starts all of OpenClaw: ~20-60 s on 2 cores)
turn main agent:main:main "morning summary"
"$PY" - "$LOG/long-message.txt" "$LOG/huge-message.txt" <<'PY'
import sys
words = ("the quarterly report covers revenue churn onboarding pipeline latency incidents hiring budget "
         "roadmap customers partners pricing experiments retention support backlog").split()
def text(lines):
    return "Please summarise these notes.\n" + "\n".join(
        f"{i:05d}. " + " ".join(words[(i * 7 + j) % len(words)] for j in range(12)) for i in range(lines))
open(sys.argv[1], "w").write(text(80))      # ~6 KB: stored zstd-compressed
open(sys.argv[2], "w").write(text(6500))    # ~560 KB: an oversized transcript in one turn
PY
turnf main agent:main:explicit:quarterly-dump "$LOG/huge-message.txt"
turn ops agent:ops:main "continuing the imported session"

# ---- phase 4: a real gateway on loopback
log "starting gateway on 127.0.0.1:$GWPORT"
# its own process group (setsid), so that the whole gateway can be killed at the end
(cd "$OUT" && exec setsid "$NEW" gateway run --port "$GWPORT" --bind loopback --auth token --token "$TOKEN" \
  --allow-unconfigured) >"$LOG/gateway.log" 2>&1 & GWPID=$!
disown "$GWPID"  # killed on purpose at the end: no "Killed" job notice from bash
gw_ready() { sed 's/\x1b\[[0-9;]*m//g' "$LOG/gateway.log" 2>/dev/null | grep -qE '\[gateway\] ready'; }
for _ in $(seq 1 240); do gw_ready && break; kill -0 "$GWPID" 2>/dev/null || break; sleep 1; done
gw_ready || fail "gateway not ready (see $LOG/gateway.log)"
# turns through the gateway (the CLI is a client of it: a few seconds per turn)
gturn() { oc "gw-turn-$(echo "$2" | tr ':/' '__' | cut -c1-60)" 300 "$NEW" agent --agent "$1" --session-key "$2" --message "$3" --json; }
gturnf() { oc "gw-turnf-$(echo "$2" | tr ':/' '__' | cut -c1-60)" 300 "$NEW" agent --agent "$1" --session-key "$2" --message-file "$3" --json; }
gturn main agent:main:telegram:direct:40382952 "hello from telegram"
gturnf main agent:main:telegram:direct:40382952 "$LOG/long-message.txt"
gturn main agent:main:telegram:direct:777000 "the sales customer writes to main now"
gturn illarion agent:illarion:telegram:direct:40382952 "same peer on another agent"
gturn illarion agent:illarion:telegram:direct:555 "another peer"
gturn marketer agent:marketer:discord:channel:987654 "campaign thread"
gturn marketer agent:marketer:discord:channel:987654:thread:1122 "thread reply"
gturn main agent:main:telegram:group:-100777 "group chat"
gturn main agent:main:cron:daily-report "cron base"
gturn main agent:main:cron:daily-report:run:6f1c2d3e-0000-4000-8000-000000000001 "cron run 1"
gturn main agent:main:cron:daily-report:run:6f1c2d3e-0000-4000-8000-000000000002 "cron run 2"
gturn illarion agent:illarion:subagent:0b7c1a9e-1111-4222-8333-444455556666 "subagent task"
gturn main agent:main:hook:9a8b7c6d-aaaa-4bbb-8ccc-dddddddddddd "webhook"
for i in 1 2 3 4 5; do gturn main "agent:main:explicit:dyad-coord-$i" "coordination round $i"; done
oc gw-turn-main 300 "$NEW" agent --agent main --session-key agent:main:main --message "turn through the gateway" --json
oc gw-reset-group 120 "$NEW" gateway call sessions.reset --params '{"key":"agent:main:telegram:group:-100777","reason":"reset"}' --json
oc gw-turn-group-after-reset 300 "$NEW" agent --agent main --session-key agent:main:telegram:group:-100777 --message "first turn after reset" --json
oc gw-compact-main 300 "$NEW" sessions compact agent:main:main --json
oc gw-compact-illarion-maxlines 300 "$NEW" sessions compact agent:illarion:telegram:direct:555 --agent illarion --max-lines 2 --json
oc gw-archive-dyad4 300 "$NEW" sessions archive agent:main:explicit:dyad-coord-4 --json
oc gw-delete-dyad5 300 "$NEW" sessions delete agent:main:explicit:dyad-coord-5 --yes --json
# the spawn storm: a coordinator creating session after session (four calls at a time)
for batch in 0 1 2 3 4 5; do
  pids=()
  for j in 1 2 3 4; do
    i=$((batch * 4 + j)); k=$(printf 'agent:main:explicit:storm-%02d' "$i")
    oc "gw-create-storm-$i" 300 "$NEW" gateway call sessions.create \
      --params "{\"key\":\"$k\",\"parentSessionKey\":\"agent:main:main\",\"label\":\"storm $i\"}" --json &
    pids+=($!)
  done
  wait "${pids[@]}"  # not a bare `wait`: the fake models are children too
done
# the running + aborted row, as a restart leaves it: a turn on the slow model is still running
# when the gateway is restarted (`openclaw gateway restart`). A restart — unlike a stop, which
# aborts its runs — marks the runs it interrupts for restart recovery (status running +
# abortedLastRun); the gateway then dies (SIGKILL) before its new instance resumes them. That
# row is what the next start resumes, however old it is by then.
log "turn on the slow model, then restart the gateway while it runs, then kill it"
(cd "$OUT" && timeout 600 "$NEW" agent --agent main --session-key agent:main:telegram:direct:424242 \
  --model slow/fake-model --message "a long task the restart interrupts" --json) \
  >"$LOG/gw-turn-interrupted.out" 2>"$LOG/gw-turn-interrupted.err" & TURNPID=$!
wait_row() { # wait_row WHAT: until the interrupted row is `running` (WHAT=running) or marked (WHAT=aborted)
  "$PY" - "$OUT/agents/main/agent/openclaw-agent.sqlite" "$1" <<'PY'
import json, sqlite3, sys, time, urllib.parse
uri = "file:" + urllib.parse.quote(sys.argv[1]) + "?mode=ro&readonly_shm=1"
for _ in range(2400):
    try:
        c = sqlite3.connect(uri, uri=True, timeout=5)
        row = c.execute("SELECT status, entry_json FROM session_nodes WHERE session_key=?",
                        ("agent:main:telegram:direct:424242",)).fetchone()
        c.close()
        if row and row[0] == "running" and (sys.argv[2] == "running" or json.loads(row[1]).get("abortedLastRun") is True):
            sys.exit(0)
    except (sqlite3.Error, ValueError):
        pass
    time.sleep(0.25)
sys.exit(1)
PY
}
wait_row running || fail "the slow turn never showed status running"
# --wait 5s: drain in-flight work for 5 s at most (else up to ~5 min) before the restart
(cd "$OUT" && exec timeout 300 "$NEW" gateway restart --wait 5s --json) >"$LOG/gw-restart.out" 2>"$LOG/gw-restart.err" &
RESTARTPID=$!
if wait_row aborted; then
  log "the restart marked the run for recovery: killing the gateway (SIGKILL)"
else
  fail "the restart never marked the interrupted run (status running + abortedLastRun)"
fi
kill -KILL -- "-$GWPID" 2>/dev/null || true
for _ in $(seq 1 60); do kill -0 -- "-$GWPID" 2>/dev/null || break; sleep 0.5; done
GWPID=
kill "$RESTARTPID" "$TURNPID" 2>/dev/null || true
wait "$RESTARTPID" "$TURNPID" 2>/dev/null || true
# ---- phase 5: the mixed state. The file-era release, still installed with its own file-era
# config, writes agent `sales`: a sessions.json beside the databases. (2026.9.6 refuses to
# start the gateway until `openclaw doctor --fix` imports it: the tests that need a gateway
# run that first, on their own copy — the rest of the upgrade path.)
OPENCLAW_CONFIG_PATH="$LOG/openclaw.json.file-era" old_turn sales agent:sales:telegram:direct:777000 \
  "a customer on the sales agent"
OPENCLAW_CONFIG_PATH="$LOG/openclaw.json.file-era" old_turn sales agent:sales:main "sales pipeline review"
[ -f "$OUT/agents/sales/sessions/sessions.json" ] && [ ! -e "$OUT/agents/sales/agent/openclaw-agent.sqlite" ] \
  || fail "agent sales is not a file-era store"
# derived caches that are not session state (the Control UI assets: ~54 MB, re-extracted at start)
rm -rf "$OUT/cache/control-ui-assets"
(cd "$OUT" && find . -type f | sort) >"$LOG/files-final.txt"
if [ -s "$LOG/FAILED" ]; then log "done with failures:"; cat "$LOG/FAILED" >&2; exit 1; fi
log "done"
