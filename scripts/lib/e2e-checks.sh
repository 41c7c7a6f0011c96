# What the end-to-end scripts share: check/PASS/FAIL counting, fresh worlds
# (torn down on exit), and assertions about the crossover key in both KDBs.
# Source after scripts/lib/crossover-world.sh.

passed=0 failed=0
check() {   # check "what" COMMAND...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); echo "PASS: $what"
  else failed=$((failed + 1)); echo "FAIL: $what"; fi
}
base=${KXOVER_TEST_TMP:-/tmp}
worlds=()
trap 'for w in "${worlds[@]}"; do world_down "$w"; rm -rf "$w"; done' EXIT
trap 'exit 1' TERM INT   # so that the EXIT trap also runs when interrupted

new_world() {   # new_world NAME [zone/cert options as for world_up]
  local dir; dir=$(mktemp -d "$base/e2e-$1.XXXXXX")
  worlds+=("$dir")
  if ! world_up "$dir" "${@:2}"; then
    failed=$((failed + 1)); echo "FAIL: $1: the world did not come up"; return 1
  fi
  WORLD=$dir
}

keys_of() {   # keys_of DIR client|service: kvno and digests of the crossover key, as kxover sees them
  "$KXOVER" show --digests --config "$1/$2-kxover.conf" krbtgt/SERVICE.TEST@CLIENT.TEST 2>&1
}
no_key() { ! "$KXOVER" show --config "$1/$2-kxover.conf" krbtgt/SERVICE.TEST@CLIENT.TEST >/dev/null 2>&1; }
paired() {   # paired DIR: the client KDB holds no crossover key, or the very key the service KDB holds
  no_key "$1" client || test "$(keys_of "$1" client)" = "$(keys_of "$1" service)"
}
keyed_pair() { ! no_key "$1" client && paired "$1"; }
no_key_anywhere() { no_key "$1" client && no_key "$1" service; }
kinit_alice() { echo alice-pw | world_user "$1" kinit alice@CLIENT.TEST >/dev/null; }
exchanges() { grep -c " crossover CLIENT.TEST" "$1/client-kxoverd.log" || true; }
served_after_exchanges() {   # served_after_exchanges DIR N: alice's kvno works, and kxoverd has run N exchanges in all
  world_user "$1" kvno host/svc.service.test@SERVICE.TEST && test "$(exchanges "$1")" = "$2"
}
one_exchange_keyed() { test "$(exchanges "$1")" = 1 && keyed_pair "$1"; }

