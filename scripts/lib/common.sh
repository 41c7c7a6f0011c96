# shellcheck shell=bash
# Shared helpers for the test-fixture scripts (kdccert, dnszone). Source, don't run.
# The caller sets PROG (used in messages) before sourcing.

die() {
  printf '%s: %s\n' "${PROG:-script}" "$*" >&2
  exit 1
}

# Fail early, naming every missing tool, instead of dying half-way through a run.
need_tools() {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (run scripts/install-deps)"
}

# Creates DIR if needed and prints its absolute path: config files we write
# (nsd.conf, dns.env) must not depend on the caller's working directory.
absolute_dir() {
  mkdir -p -- "$1" && (cd -- "$1" && pwd -P)
}

# Values we put into templates, zone files and dns.env must not need escaping.
require_plain() {
  local what=$1 value=$2
  case "$value" in
    '' | *[[:space:]\"\'\\\$\`]*) die "$what must be non-empty, without spaces, quotes, backslashes, \$ or backticks: '$value'" ;;
  esac
}

# Runs a command quietly; on failure shows its output (tools like certtool are chatty).
run_quiet() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" >&2
    die "failed ($rc): $*"
  fi
}

# Directory paths may contain spaces, but nothing that breaks the quoting of the
# files that record them (nsd.conf, dns.env).
require_safe_path() {
  case "$1" in
    *[\"\'\\\$\`]* | *$'\n'*) die "unsupported characters in path: $1" ;;
  esac
}

sha256_hex() {
  sha256sum | cut -d' ' -f1
}

# Exists and has not exited. After `dnszone start` returns, NSD is reparented to
# init, which may take a second or more to reap it: a zombie counts as stopped.
process_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }   # the command name in (...) may contain spaces
  [ "${stat%% *}" != Z ]
}
