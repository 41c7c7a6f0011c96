#include "CKerberos.h"
#include <errno.h>
#include <string.h>
#include <time.h>

// The master key that encrypts new key data: the KDB's active K/M key. K/M
// lives in the KDB's own realm (the context's default realm, set by kadm5_init),
// not in the realm a cross-realm principal names. The returned key belongs to
// the context's master key list; only the activation list is ours to free.
static krb5_error_code active_master_key(krb5_context context, krb5_actkvno_node **activations,
                                         krb5_keyblock **key) {
    krb5_principal master = NULL;
    krb5_kvno active_kvno = 0;
    char *default_realm = NULL;
    krb5_error_code ret = krb5_get_default_realm(context, &default_realm);
    if (ret) return ret;
    ret = krb5_db_setup_mkey_name(context, NULL, default_realm, NULL, &master);
    krb5_free_default_realm(context, default_realm);
    if (ret) return ret;
    ret = krb5_dbe_fetch_act_key_list(context, master, activations);
    krb5_free_principal(context, master);
    if (ret) return ret;
    return krb5_dbe_find_act_mkey(context, *activations, &active_kvno, key);
}

static krb5_error_code finish_entry(krb5_context context, krb5_db_entry *entry, krb5_const_principal modifier) {
    krb5_dbe_sort_key_data(entry->key_data, entry->n_key_data);   // the KDC expects kvno descending
    entry->mask |= KADM5_KEY_DATA;
    krb5_error_code ret = krb5_dbe_update_mod_princ_data(context, entry, (krb5_timestamp)time(NULL), modifier);
    if (ret) return ret;
    return krb5_db_put_principal(context, entry);
}

krb5_error_code kx_kdb_add_keys(krb5_context context, krb5_const_principal principal, krb5_kvno kvno,
                                const kx_raw_key *keys, int count, krb5_const_principal modifier) {
    krb5_db_entry *entry = NULL;
    krb5_actkvno_node *activations = NULL;
    krb5_keyblock *master_key = NULL;
    krb5_key_data *merged = NULL;
    int kept = 0, i;

    krb5_error_code ret = krb5_db_get_principal(context, principal, 0, &entry);
    if (ret) return ret;
    ret = active_master_key(context, &activations, &master_key);
    if (ret) goto out;

    merged = krb5_db_alloc(context, NULL, (size_t)(entry->n_key_data + count) * sizeof(*merged));
    if (merged == NULL) { ret = ENOMEM; goto out; }
    memset(merged, 0, (size_t)(entry->n_key_data + count) * sizeof(*merged));

    for (i = 0; i < count; i++) {
        krb5_keyblock block = { .magic = KV5M_KEYBLOCK, .enctype = keys[i].enctype,
                                .length = keys[i].length, .contents = (krb5_octet *)keys[i].contents };
        krb5_keysalt salt = { .type = KRB5_KDB_SALTTYPE_NORMAL, .data = { 0 } };
        ret = krb5_dbe_encrypt_key_data(context, master_key, &block, &salt, (int)kvno, &merged[i]);
        if (ret) {
            while (--i >= 0) krb5_dbe_free_key_data_contents(context, &merged[i]);
            krb5_db_free(context, merged);
            merged = NULL;
            goto out;
        }
    }
    // Keep every old key of another kvno; drop any old key of this kvno.
    for (i = 0; i < entry->n_key_data; i++) {
        if (entry->key_data[i].key_data_kvno == kvno) {
            krb5_dbe_free_key_data_contents(context, &entry->key_data[i]);
        } else {
            merged[count + kept++] = entry->key_data[i];
        }
    }
    krb5_db_free(context, entry->key_data);   // the array only; its contents moved to `merged`
    entry->key_data = merged;
    entry->n_key_data = (krb5_int16)(count + kept);
    ret = finish_entry(context, entry, modifier);
out:
    if (activations) krb5_dbe_free_actkvno_list(context, activations);
    if (entry) krb5_db_free_principal(context, entry);
    return ret;
}

krb5_error_code kx_kdb_remove_kvno(krb5_context context, krb5_const_principal principal, krb5_kvno kvno,
                                   krb5_const_principal modifier) {
    krb5_db_entry *entry = NULL;
    int kept = 0, i;
    krb5_error_code ret = krb5_db_get_principal(context, principal, 0, &entry);
    if (ret) return ret;
    for (i = 0; i < entry->n_key_data; i++) {
        if (entry->key_data[i].key_data_kvno == kvno) {
            krb5_dbe_free_key_data_contents(context, &entry->key_data[i]);
        } else {
            entry->key_data[kept++] = entry->key_data[i];
        }
    }
    entry->n_key_data = (krb5_int16)kept;
    ret = finish_entry(context, entry, modifier);
    krb5_db_free_principal(context, entry);
    return ret;
}
