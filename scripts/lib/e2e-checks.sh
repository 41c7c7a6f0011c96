# What the end-to-end scripts share: check/PASS/FAIL counting, fresh worlds
# (torn down on exit), and assertions about the crossover key in both KDBs.
# Source after scripts/lib/crossover-world.sh.

passed=0 failed=0
check() {   # check "what" COMMAND...   (a failure shows the command's last words)
  local what=$1 out=${KXOVER_TEST_TMP:-/tmp}/check.$$.out; shift
  if "$@" >"$out" 2>&1; then passed=$((passed + 1)); echo "PASS: $what"
  else failed=$((failed + 1)); echo "FAIL: $what"; tail -n 5 "$out" | sed 's/^/      | /'; fi
  rm -f "$out"
}
base=${KXOVER_TEST_TMP:-/tmp}
worlds=()
# A scenario ends where the next begins: its world goes down then, so that at
# most one world per script runs at a time; the last goes down at exit.
end_worlds() {
  local w
  for w in "${worlds[@]}"; do world_down "$w"; [ -n "${E2E_KEEP:-}" ] || rm -rf "$w"; done
  worlds=()
}
trap end_worlds EXIT
trap 'exit 1' TERM INT   # so that the EXIT trap also runs when interrupted

new_world() {   # new_world NAME [zone/cert options as for world_up]
  end_worlds
  # E2E_ONLY=NAME (a development aid): only the scenario of that world runs.
  [ -z "${E2E_ONLY:-}" ] || [ "$E2E_ONLY" = "$1" ] || return 1
  local dir; dir=$(mktemp -d "$base/e2e-$1.XXXXXX")
  worlds+=("$dir")
  if ! world_up "$dir" "${@:2}"; then
    failed=$((failed + 1)); echo "FAIL: $1: the world did not come up"; return 1
  fi
  WORLD=$dir
}

# A process stopped by --debug-stop-at-stage (it raises SIGSTOP as an
# exchange enters that stage).
state_of() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; echo "${s%% *}"; }
alive() { local s; s=$(state_of "$1") && [ "$s" != Z ]; }   # alive PID: exists and has not exited (stopped counts)
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
fds_at_most() { alive "$1" && [ "$(fds_of "$1")" -le "$2" ]; }   # fds_at_most PID N: alive, with N descriptors or fewer
fds_below() { alive "$1" && [ "$(fds_of "$1")" -lt "$2" ]; }     # fds_below PID N: alive, with fewer than N
stopped_at_stage() {   # stopped_at_stage PID LOG STAGE: stopped (state T) by --debug-stop-at-stage as an exchange entered STAGE
  wait_stopped "$1" && grep -q -- "--debug-stop-at-stage: stopping the process on entering $3" "$2"
}
wait_stopped() {   # wait_stopped PID: until the process (a kxoverd's engine) is stopped (state T), at most 10 s
  for _ in $(seq 1 200); do [ "$(state_of "$(engine_of "$1")")" = T ] && return 0; sleep 0.05; done
  return 1
}

keys_of() {   # keys_of DIR client|service: kvno and digests of the crossover key, as kxover sees them
  "$KXOVER" show --digests --config "$1/$2-kxover.conf" krbtgt/SERVICE.TEST@CLIENT.TEST 2>&1
}
no_key() {   # no_key DIR SIDE: kxover's explicit answer that the principal does not exist; any other failure (a locked KDB) is not "no key"
  local out
  out=$("$KXOVER" show --config "$1/$2-kxover.conf" krbtgt/SERVICE.TEST@CLIENT.TEST 2>&1) && return 1
  grep -q "does not exist in the" <<<"$out"
}
has_key() { keys_of "$1" "$2" | grep -q '^  kvno '; }   # has_key DIR SIDE: at least one kvno, as kxover reads it
kvno_blocks() {   # kvno_blocks DIR SIDE: one line per kvno: its etypes, validity and key digests
  keys_of "$1" "$2" | awk '/^  kvno /{ if (b) print b; b = $0; next } /^    /{ b = b "|" $0 } END { if (b) print b }'
}
client_keys_matched() {   # the client KDB holds a kvno, and the service KDB holds each of them with the same keys
  local block service client; service=$(kvno_blocks "$1" service); client=$(kvno_blocks "$1" client)
  [ -n "$client" ] || return 1
  while IFS= read -r block; do grep -qxF -- "$block" <<<"$service" || return 1; done <<<"$client"
}
# paired DIR: no client-side key without the matching service-side key. (The
# service may hold a kvno the client lacks: it stores before KX-REP.)
paired() { no_key "$1" client || client_keys_matched "$1"; }
keyed_pair() { client_keys_matched "$1"; }
no_key_anywhere() { no_key "$1" client && no_key "$1" service; }
kinit_alice() { echo alice-pw | world_user "$1" kinit alice@CLIENT.TEST >/dev/null; }
exchanges() { grep -c " crossover CLIENT.TEST" "$1/client-kxoverd.log" || true; }
served_after_exchanges() {   # served_after_exchanges DIR N: alice's kvno works, and kxoverd has run N exchanges in all
  world_user "$1" kvno host/svc.service.test@SERVICE.TEST && test "$(exchanges "$1")" = "$2"
}
one_exchange_keyed() { test "$(exchanges "$1")" = 1 && keyed_pair "$1"; }


# Metrics of the world's kxoverd (metrics_listen), and polling.
metrics_of() {   # metrics_of DIR client|service
  local port; port=$([ "$2" = client ] && echo "$WORLD_CLIENT_METRICS" || echo "$WORLD_SERVICE_METRICS")
  curl -sf --max-time 5 "http://127.0.0.1:$port/metrics"
}
has_metric() {   # has_metric DIR SIDE 'NAME{LABELS}[ VALUE]' [MIN]: that sample, with exactly VALUE if given, else a value ≥ MIN (default 1)
  metrics_of "$1" "$2" | awk -v want="$3" -v min="${4:-1}" '
    BEGIN { exact = match(want, / -?[0-9.]+$/); if (exact) { value = substr(want, RSTART + 1) + 0; want = substr(want, 1, RSTART - 1) } }
    { sample = $0; sub(/ [^ ]+$/, "", sample) }
    sample == want && (exact ? $NF + 0 == value : $NF + 0 >= min) { found = 1 }
    END { exit !found }'
}
wait_for() {   # wait_for SECONDS COMMAND...: polls every 0.5 s
  local until=$(( $(date +%s) + $1 )); shift
  while [ "$(date +%s)" -le "$until" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}
