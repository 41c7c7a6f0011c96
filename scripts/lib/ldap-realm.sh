# shellcheck shell=bash
# An MIT realm whose KDB is an OpenLDAP directory (the kldap module, Debian
# krb5-kdc-ldap), on loopback: one slapd with MIT's Kerberos schema, two
# krb5kdc reading the same directory, one kadmind. Source it, then call
#   ldap_realm_up DIR REALM LDAP_PORT KDC1_PORT KDC2_PORT KADMIND_PORT KPASSWD_PORT
#   ldap_start_kadmind DIR     (after writing DIR/ldap-realm/kadm5.acl)
#   ldap_realm_down DIR
# Only the processes it started (pids under DIR/ldap-realm/) are stopped.
#
# Files, under DIR/ldap-realm/:
#   slapd.conf, db/         the directory (suffix dc=kxover,dc=test)
#   kdc1.conf, kdc2.conf    each KDC's kdc.conf: its own port and log, the same [dbmodules]
#   kxover-kdc.conf         a kdc.conf whose kadmind DN is cn=kxover (kxoverd's local mode)
#   krb5.conf               both KDCs and kadmind, for kadmin, kinit and kxoverd's admin tickets
#   stash, service.stash    the master key; the LDAP passwords of the service DNs
#   kadm5.acl               kadmind's ACL (empty; the caller writes it before ldap_start_kadmind)
#
# Directory DNs and their rights (slapd.conf, first match wins):
#   cn=kdc      reads the realm; writes only lockout attributes
#   cn=kadmind  writes the realm (kadmind, kadmin.local, kdb5_ldap_util's service DN)
#   cn=kxover   writes and creates krbtgt/OTHER@REALM and krbtgt/REALM@OTHER
#               entries, never sees krbtgt/REALM@REALM, reads the rest (K/M,
#               policies): kxoverd in local mode
#   cn=admin    rootdn (kdb5_ldap_util create)

LDAP_SUFFIX=dc=kxover,dc=test
LDAP_CONTAINER=cn=krbContainer,$LDAP_SUFFIX
LDAP_ENCTYPES="aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal aes256-cts-hmac-sha384-192:normal aes128-cts-hmac-sha256-128:normal"

ldap_log() { printf 'ldap-realm: %s\n' "$*" >&2; }

# ldap_mit DIR KDC_CONF CMD...: an MIT tool on the realm's profiles, never /etc's.
ldap_mit() {
  local dir=$1 conf=$2; shift 2
  KRB5_CONFIG=$dir/ldap-realm/krb5.conf KRB5_KDC_PROFILE=$dir/ldap-realm/$conf "$@"
}

# ldap_kadmin_local DIR QUERY: kadmin.local through kldap (bound as cn=kadmind).
ldap_kadmin_local() {
  local dir=$1 realm; realm=$(cat "$dir/ldap-realm/realm")
  ldap_mit "$dir" kdc1.conf kadmin.local -r "$realm" -q "$2"
}

# ldap_wait_port PORT: until something listens on loopback PORT (TCP), 5 s at most.
ldap_wait_port() {
  local i
  for i in $(seq 1 100); do
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
    sleep 0.05
  done
  return 1
}

# ldap_start DIR NAME CMD...: a daemon in the foreground of a background job,
# its pid in DIR/ldap-realm/NAME.pid, its output in NAME.out.
ldap_start() {
  local dir=$1 name=$2; shift 2
  "$@" </dev/null >>"$dir/ldap-realm/$name.out" 2>&1 &
  echo $! >"$dir/ldap-realm/$name.pid"
}

# ldap_kdc_conf DIR REALM KDC_PORT NAME KADMIND_DN: one kdc.conf.
ldap_kdc_conf() {
  local dir=$1 realm=$2 port=$3 name=$4 admin_dn=$5 l=$1/ldap-realm
  cat <<CONF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port

[realms]
    $realm = {
        database_module = directory
        key_stash_file = $l/stash
        acl_file = $l/kadm5.acl
        kadmind_listen = 127.0.0.1:$LDAP_KADMIND_PORT
        kpasswd_listen = 127.0.0.1:$LDAP_KPASSWD_PORT
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = $LDAP_ENCTYPES
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        default_principal_flags = +preauth
    }

[dbmodules]
    directory = {
        db_library = kldap
        ldap_servers = ldap://127.0.0.1:$LDAP_PORT
        ldap_kerberos_container_dn = $LDAP_CONTAINER
        ldap_kdc_dn = cn=kdc,$LDAP_SUFFIX
        ldap_kadmind_dn = $admin_dn
        ldap_service_password_file = $l/service.stash
        ldap_conns_per_server = 2
    }

[logging]
    kdc = FILE:$l/$name.log
    admin_server = FILE:$l/kadmind.log
    default = FILE:$l/krb5-$name.log
CONF
}

ldap_slapd_conf() {
  local l=$1/ldap-realm realm=$2 realm_re
  realm_re=$(printf '%s' "$realm" | sed 's/\./\\\\./g')
  cat <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $l/kerberos.schema
pidfile $l/slapd.run.pid
argsfile $l/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 104857600
suffix "$LDAP_SUFFIX"
rootdn "cn=admin,$LDAP_SUFFIX"
rootpw admin-pw
directory $l/db
index objectClass eq
index krbPrincipalName eq,pres,sub

# The service DNs authenticate; nobody else reads their passwords.
access to attrs=userPassword
    by anonymous auth
    by * none
# The realm's own TGS key: the KDCs read it, kadmind writes it, kxover never sees it.
access to dn.regex="^krbPrincipalName=krbtgt/$realm_re@$realm_re,cn=$realm_re,$LDAP_CONTAINER\$"
    by dn.exact="cn=kadmind,$LDAP_SUFFIX" write
    by dn.exact="cn=kdc,$LDAP_SUFFIX" read
    by * none
# Cross-realm keys, krbtgt/OTHER@REALM (client side) and krbtgt/REALM@OTHER
# (service side): kxover writes and creates them.
access to dn.regex="^krbPrincipalName=krbtgt/([^,@]+@$realm_re|$realm_re@[^,@]+),cn=$realm_re,$LDAP_CONTAINER\$"
    by dn.exact="cn=kadmind,$LDAP_SUFFIX" write
    by dn.exact="cn=kxover,$LDAP_SUFFIX" write
    by dn.exact="cn=kdc,$LDAP_SUFFIX" read
    by * none
# Adding an entry takes write on the realm container's children as well.
access to dn.exact="cn=$realm,$LDAP_CONTAINER" attrs=children
    by dn.exact="cn=kadmind,$LDAP_SUFFIX" write
    by dn.exact="cn=kxover,$LDAP_SUFFIX" write
    by * read
# The KDCs record logins (lockout); nothing else of theirs is written.
access to dn.subtree="$LDAP_CONTAINER" attrs=krbLastSuccessfulAuth,krbLastFailedAuth,krbLoginFailedCount,krbLastAdminUnlock
    by dn.exact="cn=kadmind,$LDAP_SUFFIX" write
    by dn.exact="cn=kdc,$LDAP_SUFFIX" write
    by * none
access to dn.subtree="$LDAP_CONTAINER"
    by dn.exact="cn=kadmind,$LDAP_SUFFIX" write
    by dn.exact="cn=kdc,$LDAP_SUFFIX" read
    by dn.exact="cn=kxover,$LDAP_SUFFIX" read
    by * none
access to *
    by * read
CONF
}

# ldap_realm_up DIR REALM LDAP_PORT KDC1_PORT KDC2_PORT KADMIND_PORT KPASSWD_PORT
ldap_realm_up() {
  local dir=$1 realm=$2 l=$1/ldap-realm dn
  LDAP_PORT=$3 LDAP_KDC1_PORT=$4 LDAP_KDC2_PORT=$5 LDAP_KADMIND_PORT=$6 LDAP_KPASSWD_PORT=$7
  mkdir -p "$l/db"
  chmod 700 "$l"
  echo "$realm" >"$l/realm"
  zcat /usr/share/doc/krb5-kdc-ldap/kerberos.schema.gz >"$l/kerberos.schema" ||
    { ldap_log "no MIT Kerberos schema (Debian package krb5-kdc-ldap)"; return 1; }
  ldap_slapd_conf "$dir" "$realm" >"$l/slapd.conf"
  slaptest -Q -u -f "$l/slapd.conf" || { ldap_log "slaptest rejects $l/slapd.conf"; return 1; }
  ldap_start "$dir" slapd slapd -f "$l/slapd.conf" -h "ldap://127.0.0.1:$LDAP_PORT/" -d 0
  ldap_wait_port "$LDAP_PORT" || { ldap_log "slapd did not listen on $LDAP_PORT"; tail -5 "$l/slapd.out" >&2; return 1; }
  {
    printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: kxover tests\ndc: kxover\n\n' "$LDAP_SUFFIX"
    for dn in kdc kadmind kxover; do
      printf 'dn: cn=%s,%s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: %s\nuserPassword: %s-pw\n\n' \
        "$dn" "$LDAP_SUFFIX" "$dn" "$dn"
    done
  } | ldapadd -x -H "ldap://127.0.0.1:$LDAP_PORT" -D "cn=admin,$LDAP_SUFFIX" -w admin-pw >/dev/null ||
    { ldap_log "could not add the base entries"; return 1; }

  ldap_kdc_conf "$dir" "$realm" "$LDAP_KDC1_PORT" kdc1 "cn=kadmind,$LDAP_SUFFIX" >"$l/kdc1.conf"
  ldap_kdc_conf "$dir" "$realm" "$LDAP_KDC2_PORT" kdc2 "cn=kadmind,$LDAP_SUFFIX" >"$l/kdc2.conf"
  ldap_kdc_conf "$dir" "$realm" "$LDAP_KDC1_PORT" kxover "cn=kxover,$LDAP_SUFFIX" >"$l/kxover-kdc.conf"
  cat >"$l/krb5.conf" <<CONF
[libdefaults]
    default_realm = $realm
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
[realms]
    $realm = {
        kdc = 127.0.0.1:$LDAP_KDC1_PORT
        kdc = 127.0.0.1:$LDAP_KDC2_PORT
        admin_server = 127.0.0.1:$LDAP_KADMIND_PORT
    }
CONF
  : >"$l/kadm5.acl"
  ldap_mit "$dir" kdc1.conf kdb5_ldap_util -D "cn=admin,$LDAP_SUFFIX" -w admin-pw -H "ldap://127.0.0.1:$LDAP_PORT" \
    create -subtrees "$LDAP_SUFFIX" -r "$realm" -s -P master-pw >"$l/create.out" 2>&1 ||
    { ldap_log "kdb5_ldap_util create failed"; cat "$l/create.out" >&2; return 1; }
  for dn in kdc kadmind kxover; do
    printf '%s-pw\n%s-pw\n' "$dn" "$dn" | ldap_mit "$dir" kdc1.conf kdb5_ldap_util -D "cn=admin,$LDAP_SUFFIX" -w admin-pw \
      stashsrvpw -f "$l/service.stash" "cn=$dn,$LDAP_SUFFIX" >/dev/null 2>&1 ||
      { ldap_log "kdb5_ldap_util stashsrvpw cn=$dn failed"; return 1; }
  done
  ldap_kadmin_local "$dir" "addpol kxover" >/dev/null 2>&1 || { ldap_log "could not add the kxover policy"; return 1; }
  ldap_start "$dir" kdc1 env KRB5_CONFIG="$l/krb5.conf" KRB5_KDC_PROFILE="$l/kdc1.conf" krb5kdc -n -r "$realm"
  ldap_start "$dir" kdc2 env KRB5_CONFIG="$l/krb5.conf" KRB5_KDC_PROFILE="$l/kdc2.conf" krb5kdc -n -r "$realm"
  ldap_wait_port "$LDAP_KDC1_PORT" && ldap_wait_port "$LDAP_KDC2_PORT" ||
    { ldap_log "a KDC did not start"; tail -3 "$l"/kdc?.out >&2; return 1; }
}

# ldap_start_kadmind DIR: kadmind beside KDC 1, once the caller has written kadm5.acl.
ldap_start_kadmind() {
  local dir=$1 l=$1/ldap-realm
  ldap_start "$dir" kadmind env KRB5_CONFIG="$l/krb5.conf" KRB5_KDC_PROFILE="$l/kdc1.conf" kadmind -nofork -r "$(cat "$l/realm")"
  ldap_wait_port "$LDAP_KADMIND_PORT" || { ldap_log "kadmind did not start"; tail -3 "$l/kadmind.out" >&2; return 1; }
}

# ldap_stop DIR NAME: TERM, up to 3 s, then KILL; only the pid recorded for NAME.
ldap_stop() {
  local f=$1/ldap-realm/$2.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

ldap_realm_down() {
  local name
  for name in kadmind kdc1 kdc2 slapd; do ldap_stop "$1" "$name"; done
}
