# Two MIT realms, a signed DNS zone and two kxoverd on loopback: the world a
# crossover runs in, for scripts/demo and scripts/e2e. Source it, then call
# world_up DIR [zone flags...] / world_down DIR. Only pids it started are killed.
#
# CLIENT.TEST: alice (password alice-pw), kxoverd in front of its krb5kdc;
#   host/www.client.test. Its krb5kdc loads kxover's hostrealm module, which
#   asks the client kxoverd (hostrealm_socket, host_based_triggers) for the
#   realm of a host in a referral request.
# SERVICE.TEST: host/svc.service.test, host/svc2.service.test,
#   host/forged.client.test and host/unsigned.client.test, same.
# DNS: _kerberos TXT, _kerberos-tls._tcp SRV, A/AAAA and TLSA for both KDCs;
#   _kerberos TXT for svc.service.test and www.client.test; "SERVICE.TEST"
#   for forged.client.test (bogus) and unsigned.client.test (an unsigned zone).

WORLD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORLD_GIVEN_KXOVERD=${KXOVERD:-} WORLD_GIVEN_KXOVER=${KXOVER:-}   # set by the caller: they win
KXOVERD=${KXOVERD:-$WORLD_ROOT/.build/debug/kxoverd}
KXOVER=${KXOVER:-$WORLD_ROOT/.build/debug/kxover}
KXOVER_HOSTREALM_MODULE=${KXOVER_HOSTREALM_MODULE:-$WORLD_ROOT/.build/debug/libkxover-hostrealm.so}
KXOVER_KDCPOLICY_MODULE=${KXOVER_KDCPOLICY_MODULE:-$WORLD_ROOT/.build/debug/libkxover-kdcpolicy.so}

world_log() { printf '%s\n' "$*" >&2; }

# world_release_build: the worlds run release kxoverd and kxover (for the
# benchmarks), built where scripts/install and the package build them, so the
# build is shared; KXOVERD and KXOVER the caller set still win.
world_release_build() {
  local product
  for product in kxoverd kxover; do
    swift build -c release --static-swift-stdlib --scratch-path "$WORLD_ROOT/.build-install" --product "$product" >/dev/null || return 1
  done
  KXOVERD=${WORLD_GIVEN_KXOVERD:-$WORLD_ROOT/.build-install/release/kxoverd}
  KXOVER=${WORLD_GIVEN_KXOVER:-$WORLD_ROOT/.build-install/release/kxover}
}

# world_up DIR [CLIENT_ZONE_FLAGS] [SERVICE_ZONE_FLAGS] [CLIENT_CERT_ARGS] [SERVICE_CERT_ARGS]
# $WORLD_ZONE_EXTRA: more zone spec lines (scripts/dnszone).
world_up() {
  local dir=$1 cflags=${2:-} sflags=${3:-} ccert=${4:-} scert=${5:-}
  mkdir -p "$dir"
  # kxoverd's engine (nobody) re-reads its configuration and certificates on SIGHUP.
  chmod 755 "$dir"
  local -a ports
  read -r -a ports <<<"$("$WORLD_ROOT/scripts/realm" free-ports 10 | tr '\n' ' ')"
  WORLD_CLIENT_FRONT=${ports[0]} WORLD_CLIENT_BACKEND=${ports[1]}
  WORLD_SERVICE_FRONT=${ports[2]} WORLD_SERVICE_BACKEND=${ports[3]}
  WORLD_CLIENT_METRICS=${ports[8]} WORLD_SERVICE_METRICS=${ports[9]}
  # Certificates: a KDC host name and krbtgt/REALM@REALM in id-pkinit-san.
  # CERT_ARGS replace the realm arguments (e.g. "--realm OTHER.TEST" for a certificate naming another realm).
  # shellcheck disable=SC2086
  "$WORLD_ROOT/scripts/kdccert" "$dir" client --host kdc.client.test ${ccert:---realm CLIENT.TEST} >/dev/null
  # shellcheck disable=SC2086
  "$WORLD_ROOT/scripts/kdccert" "$dir" service --host kdc.service.test ${scert:---realm SERVICE.TEST} >/dev/null
  # The realms, with krb5kdc on the backend ports.
  "$WORLD_ROOT/scripts/realm" init "$dir/realms" CLIENT.TEST --kdc-port "$WORLD_CLIENT_BACKEND" \
    --kadmind-port "${ports[4]}" --kpasswd-port "${ports[5]}" >/dev/null
  "$WORLD_ROOT/scripts/realm" init "$dir/realms" SERVICE.TEST --kdc-port "$WORLD_SERVICE_BACKEND" \
    --kadmind-port "${ports[6]}" --kpasswd-port "${ports[7]}" >/dev/null
  world_kdc_modules "$dir"
  "$WORLD_ROOT/scripts/realm" start "$dir/realms" CLIENT.TEST >/dev/null
  "$WORLD_ROOT/scripts/realm" start "$dir/realms" SERVICE.TEST >/dev/null
  "$WORLD_ROOT/scripts/realm" addprinc "$dir/realms" CLIENT.TEST alice --pw alice-pw >/dev/null
  "$WORLD_ROOT/scripts/realm" addprinc "$dir/realms" SERVICE.TEST host/svc.service.test --randkey >/dev/null
  "$WORLD_ROOT/scripts/realm" addprinc "$dir/realms" SERVICE.TEST host/svc2.service.test --randkey >/dev/null
  "$WORLD_ROOT/scripts/realm" addprinc "$dir/realms" SERVICE.TEST host/forged.client.test --randkey >/dev/null
  "$WORLD_ROOT/scripts/realm" addprinc "$dir/realms" SERVICE.TEST host/unsigned.client.test --randkey >/dev/null
  "$WORLD_ROOT/scripts/realm" addprinc "$dir/realms" CLIENT.TEST host/www.client.test --randkey >/dev/null
  # DNS: the SRV records name the front ends (kxoverd), not krb5kdc.
  cat >"$dir/zone.spec" <<SPEC
realm CLIENT.TEST kdc.client.test $WORLD_CLIENT_FRONT client $cflags
realm SERVICE.TEST kdc.service.test $WORLD_SERVICE_FRONT service $sflags
host svc.service.test SERVICE.TEST
host www.client.test CLIENT.TEST
host forged.client.test SERVICE.TEST bogus-txt
host unsigned.client.test SERVICE.TEST insecure
${WORLD_ZONE_EXTRA:-}
SPEC
  "$WORLD_ROOT/scripts/dnszone" start "$dir" "$dir/zone.spec" >/dev/null
  # shellcheck disable=SC1091
  . "$dir/dns.env"
  world_config "$dir" CLIENT.TEST client "$WORLD_CLIENT_FRONT" "$WORLD_CLIENT_BACKEND" "$WORLD_CLIENT_METRICS"
  world_config "$dir" SERVICE.TEST service "$WORLD_SERVICE_FRONT" "$WORLD_SERVICE_BACKEND" "$WORLD_SERVICE_METRICS"
  # The users' krb5.conf: each realm's KDC is its kxoverd.
  cat >"$dir/client-krb5.conf" <<CONF
[libdefaults]
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    kdc_timesync = 0
[realms]
    CLIENT.TEST = {
        kdc = 127.0.0.1:$WORLD_CLIENT_FRONT
    }
    SERVICE.TEST = {
        kdc = 127.0.0.1:$WORLD_SERVICE_FRONT
    }
CONF
  world_start "$dir" client
  world_start "$dir" service
}

# world_kdc_modules DIR: both KDCs load the kdcpolicy module; CLIENT.TEST's also kxover's hostrealm
# module, which asks the client kxoverd on DIR/client-hostrealm.sock.
world_kdc_modules() {
  local dir=$1
  grep -q '^\[kxover\]' "$dir/realms/CLIENT.TEST/kdc.conf" && return 0
  [ -f "$KXOVER_HOSTREALM_MODULE" ] ||
    world_log "no $KXOVER_HOSTREALM_MODULE (swift build --product kxover-hostrealm): CLIENT.TEST gives no host referrals"
  [ -f "$KXOVER_KDCPOLICY_MODULE" ] ||
    world_log "no $KXOVER_KDCPOLICY_MODULE (swift build --product kxover-kdcpolicy): one hop is MIT's alone"
  cat >>"$dir/realms/CLIENT.TEST/kdc.conf" <<CONF

[plugins]
    hostrealm = {
        module = kxover:$KXOVER_HOSTREALM_MODULE
    }
$(world_kdcpolicy_module)

[kxover]
    hostrealm_socket = $dir/client-hostrealm.sock
CONF
  printf '\n[plugins]\n%s\n' "$(world_kdcpolicy_module)" >>"$dir/realms/SERVICE.TEST/kdc.conf"
}

# Both KDCs load kxover's kdcpolicy module (one hop, docs/transit.md), so
# every crossover a world makes is judged by it. Lines for [plugins].
world_kdcpolicy_module() {
  [ -f "$KXOVER_KDCPOLICY_MODULE" ] || return 0
  printf '    kdcpolicy = {\n        module = kxover:%s\n    }\n' "$KXOVER_KDCPOLICY_MODULE"
}

# world_config DIR REALM NAME FRONT_PORT BACKEND_PORT METRICS_PORT [KDC_HOST]
# $WORLD_KXOVERD_EXTRA and $WORLD_REALM_EXTRA (relation lines) are added to
# the [kxoverd] section and the realm's subsection, for both daemons.
# KDC_HOST defaults to kdc.<realm>; $WORLD_KADM5 (relation lines) replaces
# the KDB access, by default local mode on DIR/realms/REALM/kdc.conf.
world_config() {
  local dir=$1 realm=$2 name=$3 front=$4 backend=$5 metrics=$6 host=${7:-} referrals='' kadm5
  [ -n "$host" ] || host="kdc.$(printf '%s' "$realm" | tr 'A-Z' 'a-z')"
  kadm5=${WORLD_KADM5:-"        kadm5_mode = local
        kdc_profile = $dir/realms/$realm/kdc.conf
        krb5_config = $dir/realms/krb5.conf"}
  # The client side answers its KDC's hostrealm module and holds referral
  # requests for hosts in realms it has not met yet.
  [ "$name" != client ] || referrals="    hostrealm_socket = $dir/client-hostrealm.sock
    host_based_triggers = true"
  cat >"$dir/$name-kxover.conf" <<CONF
[kxoverd]
$referrals
    listen = 127.0.0.1:$front [::1]:$front
    backend_kdc = 127.0.0.1:$backend
    tls_pool = embedded
    dns_trust_anchor = $TRUST_ANCHOR
    dns_forward = $DNS_STUB
    dns_option = local-zone: test. transparent
    pid_file = $dir/$name-kxoverd.pid
    control_socket = $dir/$name-control.sock
    metrics_listen = 127.0.0.1:$metrics
    # the peer kxoverd of these worlds listen on loopback only
    peer_address_allow = loopback
    # privsep (the default): the engine runs as nobody, which may read this
    # world's files (for SIGHUP) but not its realms' KDBs and stashes
    kxover_user = nobody
${WORLD_KXOVERD_EXTRA:-}
[realms]
    $realm = {
        kdc_host = $host
        certificate = $dir/$name.crt
        private_key = $dir/$name.key
$kadm5
${WORLD_REALM_EXTRA:-}
    }
CONF
}

# world_start DIR NAME: kxoverd in the background, logging to DIR/NAME-kxoverd.log.
world_start() {
  local dir=$1 name=$2 i
  # On a restart, move the last run's log aside first: its "kxoverd ready" line
  # would otherwise satisfy the wait below before the new process truncates it.
  if [ -f "$dir/$name-kxoverd.log" ]; then mv "$dir/$name-kxoverd.log" "$dir/$name-kxoverd.log.previous"; fi
  # $WORLD_STOP_AT_STAGE: the test-only fault hook (kxoverd --debug-stop-at-stage).
  "$KXOVERD" --config "$dir/$name-kxover.conf" ${WORLD_STOP_AT_STAGE:+--debug-stop-at-stage "$WORLD_STOP_AT_STAGE"} \
    </dev/null >"$dir/$name-kxoverd.log" 2>&1 &
  echo $! >"$dir/$name-kxoverd.pid"
  for i in $(seq 1 100); do
    grep -q "kxoverd ready" "$dir/$name-kxoverd.log" 2>/dev/null && return 0
    kill -0 "$(cat "$dir/$name-kxoverd.pid")" 2>/dev/null || break
    sleep 0.05
  done
  world_log "kxoverd ($name) did not start:"; tail -20 "$dir/$name-kxoverd.log" >&2
  return 1
}

world_stop_daemon() {
  local dir=$1 name=$2 pid engine
  [ -f "$dir/$name-kxoverd.pid" ] || return 0
  pid=$(cat "$dir/$name-kxoverd.pid")
  engine=$(engine_of "$pid")
  kill "$pid" 2>/dev/null || true
  # A stopped engine (--debug-stop-at-stage) only acts on the keeper's SIGTERM once continued.
  [ "$engine" = "$pid" ] || kill -CONT "$engine" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" "$engine" 2>/dev/null || true
  rm -f "$dir/$name-kxoverd.pid"
}

# engine_of PID: the engine of the privilege-separated kxoverd PID (the
# keeper's one child: the process that runs exchanges), else PID itself.
engine_of() {
  local child
  child=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || child=
  child=${child%% *}
  echo "${child:-$1}"
}

world_down() {
  local dir=$1
  world_stop_daemon "$dir" client
  world_stop_daemon "$dir" service
  "$WORLD_ROOT/scripts/dnszone" stop "$dir" >/dev/null 2>&1 || true
  "$WORLD_ROOT/scripts/realm" destroy "$dir/realms" >/dev/null 2>&1 || true
}

# world_user DIR CMD...: run a Kerberos client tool as the user of CLIENT.TEST.
world_user() {
  local dir=$1; shift
  KRB5_CONFIG=$dir/client-krb5.conf KRB5CCNAME=FILE:$dir/alice.ccache "$@"
}
