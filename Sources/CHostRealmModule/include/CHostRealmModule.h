#ifndef CHOSTREALMMODULE_H
#define CHOSTREALMMODULE_H
// kxover's hostrealm module for MIT krb5 (krb5/hostrealm_plugin.h, major
// version 1), loaded by krb5kdc as libkxover-hostrealm.so:
//
//   [plugins]
//       hostrealm = {
//           module = kxover:/usr/lib/kxover/libkxover-hostrealm.so
//       }
//   [kxover]
//       hostrealm_socket = /run/kxover/hostrealm.sock
//
// host_realm(HOST) asks the local kxoverd over that AF_UNIX stream socket,
// one question per connection, and answers only with a realm kxoverd vouches
// for (a DNSSEC-secure _kerberos TXT record). Protocol:
//
//   request:  HOST LF            HOST: 1-253 octets of A-Z a-z 0-9 . - _
//   answer:   REALM LF           an upper-case DNS-style realm name
//         or  "no" [SP REASON] LF
//   then the server closes. The whole answer is at most 256 octets.
//
// On any doubt (no socket, refused, slow, "no", malformed) the module returns
// KRB5_PLUGIN_NO_HANDLE: the KDC carries on as if the module were absent.
// The question never takes longer than KX_HOSTREALM_TIMEOUT_MS in total:
// krb5kdc waits for it on its single loop, and kxoverd answers from its
// cache alone (a host it has not resolved yet is "no" at once, and resolved
// in the background for the next question), in well under a millisecond.
#include <stddef.h>

#define KX_HOSTREALM_TIMEOUT_MS 10
#define KX_HOSTREALM_MAX_LINE 256

/// Outcomes of kx_hostrealm_ask (the module maps all but KX_HR_REALM to NO_HANDLE).
enum {
    KX_HR_REALM = 0,      // realm_out holds a well-formed realm name
    KX_HR_NO = 1,         // kxoverd said "no"
    KX_HR_BAD_HOST = 2,   // not a host name we would ask about
    KX_HR_UNREACHABLE = 3,// socket missing, refused, backlog full, path too long
    KX_HR_TIMEOUT = 4,    // no complete answer before the deadline
    KX_HR_MALFORMED = 5,  // an answer that is neither a realm nor "no"
    KX_HR_IO = 6,         // any other system error
};

/// Asks the kxoverd at `socket_path` for the realm of `host`, waiting at most
/// `timeout_ms` in total. On KX_HR_REALM the realm is in `realm_out`
/// (NUL-terminated, `realm_size` >= KX_HOSTREALM_MAX_LINE). Opens one socket
/// and always closes it; never raises SIGPIPE. Exposed for tests.
int kx_hostrealm_ask(const char *socket_path, const char *host, int timeout_ms,
                     char *realm_out, size_t realm_size);

/// True when `name` is a realm the module would hand to the KDC.
int kx_hostrealm_valid_realm(const char *name, size_t length);

/// True when `host` is a host name the module would ask about.
int kx_hostrealm_valid_host(const char *host);

#endif
