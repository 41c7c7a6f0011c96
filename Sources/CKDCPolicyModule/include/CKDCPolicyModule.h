#ifndef CKDCPOLICYMODULE_H
#define CKDCPOLICYMODULE_H
// kxover's kdcpolicy module for MIT krb5 (krb5/kdcpolicy_plugin.h, major
// version 1, MIT 1.16 and later), loaded by krb5kdc as libkxover-kdcpolicy.so:
//
//   [plugins]
//       kdcpolicy = {
//           module = kxover:/usr/lib/<triplet>/krb5/plugins/kdcpolicy/kxover.so
//       }
//
// One hop: a crossover key kxover made admits its peer's own users and no
// one else's. The module refuses a TGS request (KDC policy, log status
// KXOVER_ONE_HOP) in two places:
//
//   incoming  the request's ticket was issued by PEER for this realm
//             (krbtgt/LOCAL@PEER) and the client is not of PEER: a user of a
//             third realm transiting through PEER;
//   outgoing  the request asks for krbtgt/PEER@LOCAL and the client is not
//             of LOCAL: this realm would be the transit for someone else.
//
// Only principals kxover made are judged (they carry kxover-validity-<kvno>
// string attributes); trusts an administrator made by hand are left to MIT.
// The administrator allows a transit on the principal concerned with the
// string attributes MIT 1.22's xrealmauthz module reads:
//   xr:@CLIENTREALM   every user of CLIENTREALM      (kadmin setstr P xr:@X "")
//   xr:CLIENT@REALM   one client principal
#include <stddef.h>

enum {
    KX_ONEHOP_PASS = 0,        // not a transit, or not a kxover key: MIT decides as ever
    KX_ONEHOP_ALLOWED = 1,     // a transit the administrator allowed (xr:)
    KX_ONEHOP_REFUSED = 2,     // a transit through a kxover key: refuse
};

// The decision, without the KDB: `owner` is the crossover principal's realm
// (the issuing realm of a krbtgt/X@OWNER); the client is `client` (unparsed,
// with its realm `client_realm`); `attributes` are the principal's string
// attribute keys (`count` of them); `is_kxover` whether kxover made it.
int kx_onehop_decide(const char *owner, const char *client, const char *client_realm,
                     int is_kxover, const char *const *attributes, size_t count);

// 1 when a string attribute key marks a principal kxover made.
int kx_onehop_is_kxover_attribute(const char *key);

#endif
