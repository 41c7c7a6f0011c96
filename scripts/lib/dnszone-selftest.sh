# shellcheck shell=bash
# `scripts/dnszone selftest`: builds certificates and a zone set in a temp dir, then
# checks every DNSSEC outcome with BIND's validator (delv) and the TLSA data with
# danetool. Sourced by scripts/dnszone (which sets SCRIPTS and sources common.sh).
# Prints one line per check and ends with "N passed, M failed".

st_dir=''
st_passed=0 st_failed=0
st_out=''   # the last delv output

# ---------------------------------------------------------------- reporting
st_pass() {
  st_passed=$((st_passed + 1))
  printf 'ok   %s\n' "$1"
}

st_fail() {
  st_failed=$((st_failed + 1))
  printf 'FAIL %s: %s\n' "$1" "$2"
}

st_check() {   # DESC DETAIL-ON-FAILURE COMMAND...
  local desc=$1 detail=$2
  shift 2
  if "$@"; then st_pass "$desc"; else st_fail "$desc" "$detail"; fi
}

st_summary() {
  printf '%s passed, %s failed\n' "$st_passed" "$st_failed"
}

st_cleanup() {
  [ -n "$st_dir" ] || return 0
  if [ -f "$st_dir/dns.env" ]; then "$SCRIPTS/dnszone" stop "$st_dir" >/dev/null 2>&1 || true; fi
  rm -rf -- "$st_dir"
}

# ---------------------------------------------------------------- fixture
# KDC hosts of the realms below; the certificate of each is named after its host.
readonly ST_KDCS='client service bogussrv insecuresrv wrongtlsa bogustlsa bogustxt notlsa hostcheck'

# Returns non-zero (instead of exiting) so that a failure still ends in the summary line.
st_make_certs() {
  local label realm
  for label in $ST_KDCS; do
    realm=$(printf '%s.TEST' "$label" | tr '[:lower:]' '[:upper:]')
    "$SCRIPTS/kdccert" "$st_dir" "kdc.$label.test" --host "kdc.$label.test" --realm "$realm" || return 1
  done
  "$SCRIPTS/kdccert" "$st_dir" daneta-ca --ca-root || return 1
  "$SCRIPTS/kdccert" "$st_dir" kdc.daneta.test --host kdc.daneta.test --realm DANETA.TEST --ca daneta-ca || return 1
  "$SCRIPTS/kdccert" "$st_dir" old --host old.client.test --realm CLIENT.TEST --expired || return 1
  "$SCRIPTS/kdccert" "$st_dir" noprinc --host np.client.test --no-principal --key-type rsa || return 1
}

st_write_spec() {
  cat >"$st_dir/spec" <<'EOF'
# realm REALM KDCHOST PORT CERTNAME [flags]
realm CLIENT.TEST      kdc.client.test      8801 kdc.client.test
realm SERVICE.TEST     kdc.service.test     8802 kdc.service.test
realm DANETA.TEST      kdc.daneta.test      8803 kdc.daneta.test      dane-ta=daneta-ca
realm BOGUSSRV.TEST    kdc.bogussrv.test    88   kdc.bogussrv.test    bogus-srv
realm INSECURESRV.TEST kdc.insecuresrv.test 88   kdc.insecuresrv.test insecure
realm WRONGTLSA.TEST   kdc.wrongtlsa.test   88   kdc.wrongtlsa.test   wrong-tlsa
realm BOGUSTLSA.TEST   kdc.bogustlsa.test   88   kdc.bogustlsa.test   bogus-tlsa
realm BOGUSTXT.TEST    kdc.bogustxt.test    88   kdc.bogustxt.test    bogus-txt
realm NOTLSA.TEST      kdc.notlsa.test      88   kdc.notlsa.test      no-tlsa
realm HOSTCHECK.TEST   kdc.hostcheck.test   88   kdc.hostcheck.test   srv-host=other.hostcheck.test

# host FQDN REALM [flags]
host svc.service.test      SERVICE.TEST
host tampered.service.test SERVICE.TEST bogus-txt
host gone.service.test     SERVICE.TEST nxdomain
host www.hosted.test       CLIENT.TEST
host www.unsigned.test     CLIENT.TEST  insecure
EOF
}

# ---------------------------------------------------------------- delv
# delv does the whole validation itself, asking our NSD for every name
# (including the DS/DNSKEY chain) with test.'s DS as its only trust anchor.
st_delv() {   # NAME TYPE [ADDR]
  st_out=$(timeout 20 delv "@${3:-$DNS_ADDR}" -p "$DNS_PORT" -a "$ANCHORS_CONF" +root=test. "$1" "$2" 2>&1) || true
}

# validated | negative-validated | unsigned | negative-unsigned | failed | unknown
st_status() {
  if grep -qxF '; negative response, fully validated' <<<"$st_out"; then echo negative-validated
  elif grep -qxF '; fully validated' <<<"$st_out"; then echo validated
  elif grep -qxF '; negative response, unsigned answer' <<<"$st_out"; then echo negative-unsigned
  elif grep -qxF '; unsigned answer' <<<"$st_out"; then echo unsigned
  elif [ -n "$(st_reason)" ]; then echo failed
  else echo unknown
  fi
}

# Why delv gave no answer: "RRSIG failed to verify", "broken trust chain", "ncache nxdomain", ...
st_reason() {
  sed -n 's/^;; resolution failed: //p' <<<"$st_out" | head -n1
}

# Answer RDATA of TYPE, one per line, TLSA hex joined and lower-cased.
st_rdata() {
  awk -v type="$1" '$1 !~ /^;/ && $4 == type {
      out = $5; for (i = 6; i <= NF; i++) out = out (type == "TLSA" && i > 8 ? "" : " ") $i
      print (type == "TLSA" ? tolower(out) : out) }' <<<"$st_out"
}

# One line per query. WANT is the exact RDATA for validated/unsigned answers,
# and a piece of delv's diagnostics for failed/negative ones (so that, say, a
# timeout does not pass for a bogus signature).
st_expect() {   # STATUS NAME TYPE [WANT]
  local status=$1 name=$2 type=$3 want=${4:-} got reason answers desc
  st_delv "$name" "$type"
  got=$(st_status)
  reason=$(st_reason)
  case "$status" in
    validated | unsigned) desc="$name $type: $status${want:+, $want}" ;;
    *) desc="$name $type: $status${want:+ ($want)}" ;;
  esac
  if [ "$got" != "$status" ]; then
    st_fail "$desc" "got $got${reason:+ ($reason)}"
    return
  fi
  case "$status" in
    validated | unsigned)
      answers=$(st_rdata "$type")
      if [ -n "$want" ] && ! grep -qxF -- "$want" <<<"$answers"; then
        st_fail "$desc" "got RDATA $(tr '\n' ';' <<<"$answers")"
        return
      fi ;;
    *)
      if [ -n "$want" ] && ! grep -qF -- "$want" <<<"$st_out"; then
        st_fail "$desc" "got reason: $reason"
        return
      fi ;;
  esac
  st_pass "$desc"
}

# danetool's own TLSA RDATA for a certificate ("3 1 1 hex" or, with --ca --x509, "2 0 1 hex").
st_danetool_tlsa() {   # CERT [danetool flags]
  local crt=$1
  shift
  danetool --tlsa-rr --host x.test --load-certificate "$crt" "$@" 2>/dev/null |
    sed -nE 's/.*\( *0?([0-9]) 0?([0-9]) 0?([0-9]) ([0-9a-fA-F]+) *\).*/\1 \2 \3 \4/p' | tr '[:upper:]' '[:lower:]'
}

# ---------------------------------------------------------------- checks
st_check_certs() {
  local info label want
  info=$(certtool -i --infile "$st_dir/kdc.client.test.crt")
  st_check "kdccert: kdc.client.test has SAN dNSName and id-pkinit-san krbtgt/CLIENT.TEST@CLIENT.TEST" "certtool -i disagrees" \
    grep -qzE 'DNSname: kdc\.client\.test.*KRB5Principal: krbtgt/CLIENT\.TEST@CLIENT\.TEST' <<<"$info"
  st_check "kdccert: kdc.client.test has EKU serverAuth+clientAuth and CA:FALSE" "certtool -i disagrees" \
    grep -qzE 'CA\): FALSE.*TLS WWW Client.*TLS WWW Server' <<<"$info"
  st_check "kdccert: --ca-root makes CA:TRUE" "certtool -i disagrees" \
    grep -q 'Certificate Authority (CA): TRUE' <(certtool -i --infile "$st_dir/daneta-ca.crt")
  st_check "kdccert: --ca daneta-ca issues a certificate that verifies against the CA" "certtool --verify failed" \
    grep -q 'Chain verification output: Verified' <(certtool --verify --load-ca-certificate "$st_dir/daneta-ca.crt" \
      --infile "$st_dir/kdc.daneta.test.crt" 2>&1)
  st_check "kdccert: --expired ends validity in the past" "not after is not in the past" st_cert_expired "$st_dir/old.crt"
  st_check "kdccert: --no-principal has no KRB5Principal" "found one" \
    st_lacks 'KRB5Principal' "$(certtool -i --infile "$st_dir/noprinc.crt")"

  for label in $ST_KDCS daneta; do
    want=$(st_danetool_tlsa "$st_dir/kdc.$label.test.crt")
    st_check "kdc.$label.test.tlsa-ee matches danetool ($want)" "file has $(cat "$st_dir/kdc.$label.test.tlsa-ee")" \
      test "$(cat "$st_dir/kdc.$label.test.tlsa-ee")" = "$want"
  done
  want=$(st_danetool_tlsa "$st_dir/daneta-ca.crt" --ca --x509)
  st_check "daneta-ca.tlsa-ta matches danetool --ca --x509 ($want)" "file has $(cat "$st_dir/daneta-ca.tlsa-ta")" \
    test "$(cat "$st_dir/daneta-ca.tlsa-ta")" = "$want"
}

st_lacks() { ! grep -q -- "$1" <<<"$2"; }

st_cert_expired() {
  local not_after
  not_after=$(certtool -i --infile "$1" | sed -n 's/^[[:space:]]*Not After: //p')
  [ -n "$not_after" ] && [ "$(date -u -d "$not_after" +%s)" -lt "$(date -u +%s)" ]
}

st_check_good_realm() {   # LABEL PORT TLSA
  local d="$1.test" realm
  realm=$(tr '[:lower:]' '[:upper:]' <<<"$d")
  st_expect validated "_kerberos.$d" TXT "\"$realm\""
  st_expect validated "_kerberos-tls._tcp.$d" SRV "0 0 $2 kdc.$d."
  st_expect validated "kdc.$d" A 127.0.0.1
  st_expect validated "kdc.$d" AAAA ::1
  st_expect validated "_88._tcp.kdc.$d" TLSA "$3"
}

st_check_dns() {
  local client_tlsa service_tlsa daneta_tlsa wrong_tlsa
  client_tlsa=$(st_danetool_tlsa "$st_dir/kdc.client.test.crt")
  service_tlsa=$(st_danetool_tlsa "$st_dir/kdc.service.test.crt")
  daneta_tlsa=$(st_danetool_tlsa "$st_dir/daneta-ca.crt" --ca --x509)

  # Secure: the chain from test.'s DS reaches every good RRset.
  st_check_good_realm client 8801 "$client_tlsa"
  st_check_good_realm service 8802 "$service_tlsa"
  st_check_good_realm daneta 8803 "$daneta_tlsa"
  st_expect validated _kerberos.svc.service.test TXT '"SERVICE.TEST"'
  st_expect validated svc.service.test A 127.0.0.1
  st_expect validated _kerberos.www.hosted.test TXT '"CLIENT.TEST"'
  st_expect negative-validated _kerberos.gone.service.test TXT 'ncache nxdomain'
  st_expect negative-validated _88._tcp.kdc.notlsa.test TLSA 'ncache nxdomain'
  st_expect validated _kerberos-tls._tcp.hostcheck.test SRV '0 0 88 other.hostcheck.test.'
  st_expect validated other.hostcheck.test A 127.0.0.1
  st_delv _kerberos.client.test TXT "$DNS_ADDR6"
  st_check "_kerberos.client.test TXT over ::1: validated" "got $(st_status)" test "$(st_status)" = validated

  # wrong-tlsa: signed and valid, but it pins some other key.
  st_delv _88._tcp.kdc.wrongtlsa.test TLSA
  wrong_tlsa=$(st_rdata TLSA)
  st_check "_88._tcp.kdc.wrongtlsa.test TLSA: validated, differs from danetool's hash of the cert" \
    "status $(st_status), TLSA $wrong_tlsa" \
    st_valid_but_different "$wrong_tlsa" "$(st_danetool_tlsa "$st_dir/kdc.wrongtlsa.test.crt")"

  # Bogus: signatures that do not match the data, or no usable chain.
  st_expect failed _kerberos-tls._tcp.bogussrv.test SRV 'RRSIG failed to verify'
  st_expect validated _kerberos.bogussrv.test TXT '"BOGUSSRV.TEST"'
  st_expect failed _88._tcp.kdc.bogustlsa.test TLSA 'RRSIG failed to verify'
  st_expect failed _kerberos.bogustxt.test TXT 'RRSIG failed to verify'
  st_expect failed _kerberos.tampered.service.test TXT 'RRSIG failed to verify'
  st_expect failed bogus-record.test TXT 'RRSIG failed to verify'
  st_expect failed _kerberos.expired.test TXT 'RRSIG has expired'
  st_expect failed _kerberos-tls._tcp.expired.test SRV 'RRSIG has expired'
  st_expect failed _kerberos.nokey.test TXT 'parent indicates it should be secure'
  st_expect failed _kerberos-tls._tcp.nokey.test SRV 'broken trust chain'

  # Insecure: provably unsigned delegations.
  st_expect unsigned _kerberos.insecuresrv.test TXT '"INSECURESRV.TEST"'
  st_expect unsigned _kerberos-tls._tcp.insecuresrv.test SRV '0 0 88 kdc.insecuresrv.test.'
  st_expect unsigned _88._tcp.kdc.insecuresrv.test TLSA "$(st_danetool_tlsa "$st_dir/kdc.insecuresrv.test.crt")"
  st_expect unsigned _kerberos.insecure.test TXT '"INSECURE.TEST"'
  st_expect unsigned _kerberos-tls._tcp.insecure.test SRV '0 0 88 kdc.insecure.test.'
  st_expect unsigned _kerberos.www.unsigned.test TXT '"CLIENT.TEST"'
}

st_valid_but_different() {
  [ "$(st_status)" = validated ] && [[ "$1" =~ ^3\ 1\ 1\ [0-9a-f]{64}$ ]] && [ "$1" != "$2" ]
}

st_check_env() {
  local key missing=''
  for key in DNS_DIR DNS_PORT DNS_ADDR DNS_ADDR6 DNS_STUB DNS_PID TRUST_ANCHOR TA_FILE ANCHORS_CONF ZONES; do
    [ -n "${!key:-}" ] || missing="$missing $key"
  done
  st_check "dns.env has every key" "missing:$missing" test -z "$missing"
  st_check "TA_FILE holds TRUST_ANCHOR (\"$TRUST_ANCHOR\")" "TA_FILE has $(cat "$TA_FILE")" \
    test "$(cat "$TA_FILE")" = "$TRUST_ANCHOR"
}

st_check_stop() {
  "$SCRIPTS/dnszone" stop "$st_dir" >&2 || true
  st_check "stop: nsd pid $DNS_PID is gone and port $DNS_PORT is closed" "still there" st_stopped
}

st_stopped() {
  ! process_running "$DNS_PID" && [ -z "$(ss -Hlntu "sport = :$DNS_PORT" 2>/dev/null)" ]
}

# ---------------------------------------------------------------- main
selftest() {
  [ $# -eq 0 ] || die "selftest takes no arguments"
  need_tools delv danetool certtool ss
  local t0 t1
  t0=$(date +%s%N)
  st_dir=$(mktemp -d "${TMPDIR:-/tmp}/kxover-dnszone-selftest.XXXXXX")
  trap st_cleanup EXIT
  trap 'exit 130' INT TERM

  if ! st_make_certs 2>"$st_dir/kdccert.err"; then
    st_fail "kdccert: make the certificates" "$(cat "$st_dir/kdccert.err")"
    st_summary
    exit 1
  fi
  st_write_spec
  if "$SCRIPTS/dnszone" start "$st_dir" "$st_dir/spec" >"$st_dir/start.out" 2>&1; then
    st_pass "start: $(cat "$st_dir/start.out")"
  else
    st_fail "start" "$(cat "$st_dir/start.out")"
    st_summary
    exit 1
  fi
  # shellcheck source=/dev/null
  . "$st_dir/dns.env"

  st_check_env
  st_check_certs
  st_check_dns
  st_check_stop

  t1=$(date +%s%N)
  printf 'selftest took %s ms (delv: delv @%s -p %s -a anchors.conf +root=test. NAME TYPE)\n' \
    "$(((t1 - t0) / 1000000))" "$DNS_ADDR" "$DNS_PORT"
  st_summary
  [ "$st_failed" -eq 0 ]
}
