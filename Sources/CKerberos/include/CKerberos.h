#ifndef CKERBEROS_H
#define CKERBEROS_H
// The C side of the KXKDB adapter: MIT krb5, its profile library, libkdb5, and
// a function table for kadm5. The kadm5 server library (kadmin.local's, opens
// the KDB) and client library (talks to kadmind) export the same symbols, so
// one process can use either only by loading it with dlopen; nothing here
// links against them.
#include <krb5.h>
#include <profile.h>
#include <kdb.h>
#include <kadm5/admin.h>

typedef struct kx_kadm5_api {
    void *library;
    __typeof__(kadm5_init_krb5_context) *init_krb5_context;
    __typeof__(kadm5_init_with_password) *init_with_password;
    __typeof__(kadm5_init_with_skey) *init_with_skey;
    __typeof__(kadm5_destroy) *destroy;
    __typeof__(kadm5_init_iprop) *init_iprop;
    __typeof__(kadm5_get_principal) *get_principal;
    __typeof__(kadm5_free_principal_ent) *free_principal_ent;
    __typeof__(kadm5_create_principal_3) *create_principal_3;
    __typeof__(kadm5_modify_principal) *modify_principal;
    __typeof__(kadm5_delete_principal) *delete_principal;
    __typeof__(kadm5_setkey_principal_4) *setkey_principal_4;
    __typeof__(kadm5_get_principal_keys) *get_principal_keys;
    __typeof__(kadm5_free_kadm5_key_data) *free_kadm5_key_data;
    __typeof__(kadm5_purgekeys) *purgekeys;
    __typeof__(kadm5_get_principals) *get_principals;
    __typeof__(kadm5_free_name_list) *free_name_list;
    __typeof__(kadm5_get_strings) *get_strings;
    __typeof__(kadm5_set_string) *set_string;
    __typeof__(kadm5_free_strings) *free_strings;
    __typeof__(kadm5_get_policy) *get_policy;
    __typeof__(kadm5_free_policy_ent) *free_policy_ent;
    __typeof__(kadm5_create_policy) *create_policy;
} kx_kadm5_api;

/// Loads `library` (a soname) RTLD_LOCAL and fills `api`. Returns 0, or -1
/// with a reason in `error`.
int kx_kadm5_load(const char *library, kx_kadm5_api *api, char *error, size_t error_length);

/// One raw key for the libkdb5 writers below.
typedef struct kx_raw_key {
    krb5_enctype enctype;
    const unsigned char *contents;
    unsigned int length;
} kx_raw_key;

/// Adds `keys` at `kvno` to an existing principal, keeping its keys of other
/// kvnos. Works around kadm5_setkey_principal_4(keepold=TRUE), which drops the
/// old keys in MIT krb5 1.20. Needs a KDB opened by the kadm5 server library
/// in `context`.
krb5_error_code kx_kdb_add_keys(krb5_context context, krb5_const_principal principal, krb5_kvno kvno,
                                const kx_raw_key *keys, int count, krb5_const_principal modifier);

/// Removes every key of `kvno` from the principal, keeping the rest.
krb5_error_code kx_kdb_remove_kvno(krb5_context context, krb5_const_principal principal, krb5_kvno kvno,
                                   krb5_const_principal modifier);

/// The pid holding a lock on `path` that conflicts with an exclusive lock
/// (fcntl F_GETLK, the kind libkdb5 takes), 0 when none, -errno on error.
int kx_lock_holder(const char *path);

#endif
