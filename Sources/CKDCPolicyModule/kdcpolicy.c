// kxover's kdcpolicy module for MIT krb5: one hop for kxover's crossover keys.
// See include/CKDCPolicyModule.h for what it refuses and how to allow more.
//
// krb5kdc calls check_tgs for every TGS request, on its single loop: the
// common case (no cross-realm ticket, or a client of the issuing realm)
// returns before any KDB read; only a transit reads one principal entry.
#define _GNU_SOURCE
#include "CKDCPolicyModule.h"

#include <kdb.h>
#include <errno.h>
#include <krb5/kdcpolicy_plugin.h>
#include <krb5/plugin.h>
#include <krb5/krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MARK: - The decision

static const char validity_prefix[] = "kxover-validity-";
static const char allow_prefix[] = "xr:";   // MIT 1.22 xrealmauthz's keys

int kx_onehop_is_kxover_attribute(const char *key) {
    return key != NULL && strncmp(key, validity_prefix, sizeof(validity_prefix) - 1) == 0;
}

// xr:@REALM allows every client of REALM, xr:NAME@REALM that one client.
static int allows(const char *key, const char *client, const char *client_realm) {
    if (key == NULL || strncmp(key, allow_prefix, sizeof(allow_prefix) - 1) != 0) return 0;
    const char *rest = key + sizeof(allow_prefix) - 1;
    if (rest[0] == '@') return strcmp(rest + 1, client_realm) == 0;
    return strcmp(rest, client) == 0;
}

int kx_onehop_decide(const char *owner, const char *client, const char *client_realm,
                     int is_kxover, const char *const *attributes, size_t count) {
    if (owner == NULL || client == NULL || client_realm == NULL) return KX_ONEHOP_PASS;
    if (strcmp(owner, client_realm) == 0) return KX_ONEHOP_PASS;   // the owner's own user: one hop
    if (!is_kxover) return KX_ONEHOP_PASS;                         // a trust made by hand: MIT decides
    for (size_t i = 0; i < count; i++)
        if (allows(attributes[i], client, client_realm)) return KX_ONEHOP_ALLOWED;
    return KX_ONEHOP_REFUSED;
}

// MARK: - Principals

static int data_equals(const krb5_data *data, const char *text) {
    size_t length = strlen(text);
    return data->length == length && memcmp(data->data, text, length) == 0;
}

// krbtgt/X@OWNER with X != OWNER: a crossover principal (cross-realm TGS).
static int is_crossover(krb5_const_principal p) {
    return p != NULL && p->length == 2 && data_equals(&p->data[0], KRB5_TGS_NAME) &&
           !(p->data[1].length == p->realm.length &&
             memcmp(p->data[1].data, p->realm.data, p->realm.length) == 0);
}

static char *realm_text(const krb5_data *realm) { return strndup(realm->data, realm->length); }

// MARK: - One principal judged

// Judges a client of another realm against crossover principal `entry` (its
// KDB record); check_tgs calls it only when the realms differ.
// 0 to go on; KRB5KDC_ERR_POLICY with *status set to refuse.
static krb5_error_code judge(krb5_context context, krb5_db_entry *entry, krb5_const_principal client,
                             const char *direction, const char **status) {
    krb5_error_code code;
    char *owner = realm_text(&entry->princ->realm), *client_realm = realm_text(&client->realm);
    char *client_name = NULL, *crossover_name = NULL;
    krb5_string_attr *strings = NULL;
    int count = 0;
    const char **keys = NULL;
    if (owner == NULL || client_realm == NULL) { code = ENOMEM; goto done; }

    if ((code = krb5_unparse_name(context, client, &client_name)) != 0) goto done;
    if ((code = krb5_dbe_get_strings(context, entry, &strings, &count)) != 0) goto done;
    keys = calloc(count > 0 ? (size_t)count : 1, sizeof(*keys));
    if (keys == NULL) { code = ENOMEM; goto done; }
    int is_kxover = 0;
    for (int i = 0; i < count; i++) {
        keys[i] = strings[i].key;
        is_kxover |= kx_onehop_is_kxover_attribute(strings[i].key);
    }
    int decision = kx_onehop_decide(owner, client_name, client_realm, is_kxover, keys, (size_t)count);
    if (decision == KX_ONEHOP_REFUSED) {
        (void)krb5_unparse_name(context, entry->princ, &crossover_name);
        code = KRB5KDC_ERR_POLICY;
        *status = "KXOVER_ONE_HOP";
        // krb5kdc logs this message with the request; the client sees the
        // ordinary "KDC policy rejects request".
        krb5_set_error_message(context, code,
                               "kxover one hop: %s (%s) admits users of %s only, not %s "
                               "(to allow: kadmin setstr %s xr:@%s \"\")",
                               crossover_name ? crossover_name : "crossover key", direction, owner,
                               client_name, crossover_name ? crossover_name : "...", client_realm);
    }
done:
    // A failure of our own (memory, the KDB) refuses too, but says it was the module.
    if (code != 0 && code != KRB5KDC_ERR_POLICY) *status = "KXOVER_ONE_HOP_ERROR";
    free(keys);
    if (strings != NULL) krb5_dbe_free_strings(context, strings, count);
    krb5_free_unparsed_name(context, client_name);
    krb5_free_unparsed_name(context, crossover_name);
    free(owner);
    free(client_realm);
    return code;
}

// MARK: - The kdcpolicy interface

// S4U2Self (PA-FOR-USER, PA-S4U-X509-USER): the ticket's client is the
// service asking on a user's behalf, not the user, and across realms the
// referrals carry that service back and forth between its realm and the
// user's; MIT returns the final ticket to the service itself. Judged by the
// client's realm these one-hop legs would look like transits, so the module
// leaves S4U2Self to MIT; the tickets it yields still meet the rules when
// used in ordinary requests.
static int is_s4u2self(const krb5_kdc_req *request) {
    if (request == NULL || request->padata == NULL) return 0;
    for (krb5_pa_data **pa = request->padata; *pa != NULL; pa++)
        if ((*pa)->pa_type == KRB5_PADATA_FOR_USER || (*pa)->pa_type == KRB5_PADATA_S4U_X509_USER) return 1;
    return 0;
}

static krb5_error_code check_tgs(krb5_context context, krb5_kdcpolicy_moddata moddata, const krb5_kdc_req *request,
                                 const krb5_db_entry *server, const krb5_ticket *ticket,
                                 const char *const *auth_indicators, const char **status,
                                 krb5_deltat *lifetime_out, krb5_deltat *renew_lifetime_out) {
    (void)moddata; (void)auth_indicators; (void)lifetime_out; (void)renew_lifetime_out;
    if (ticket == NULL || ticket->enc_part2 == NULL || ticket->enc_part2->client == NULL) return 0;
    if (is_s4u2self(request)) return 0;
    krb5_const_principal client = ticket->enc_part2->client;

    // Incoming: the ticket is krbtgt/LOCAL@PEER, issued by PEER; its owner is PEER.
    if (is_crossover(ticket->server) && !krb5_realm_compare(context, ticket->server, client)) {
        krb5_db_entry *entry = NULL;
        krb5_error_code code = krb5_db_get_principal(context, ticket->server, 0, &entry);
        if (code == KRB5_KDB_NOENTRY) return 0;   // not in the KDB: nothing of kxover's
        if (code != 0) { *status = "KXOVER_ONE_HOP_KDB"; return code; }
        code = judge(context, entry, client, "incoming", status);
        krb5_db_free_principal(context, entry);
        if (code != 0) return code;
    }
    // Outgoing: the request is for krbtgt/PEER@LOCAL, owned by LOCAL.
    if (server != NULL && is_crossover(server->princ) && !krb5_realm_compare(context, server->princ, client))
        return judge(context, (krb5_db_entry *)server, client, "outgoing", status);
    return 0;
}

krb5_error_code kdcpolicy_kxover_initvt(krb5_context context, int maj_ver, int min_ver, krb5_plugin_vtable vtable);

krb5_error_code kdcpolicy_kxover_initvt(krb5_context context, int maj_ver, int min_ver, krb5_plugin_vtable vtable) {
    (void)context; (void)min_ver;
    if (maj_ver != 1) return KRB5_PLUGIN_VER_NOTSUPP;
    krb5_kdcpolicy_vtable vt = (krb5_kdcpolicy_vtable)vtable;
    vt->name = "kxover";
    vt->check_tgs = check_tgs;
    return 0;
}
