#include "CKerberos.h"
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define KX_LOAD(field, symbol)                                                        \
    do {                                                                              \
        api->field = (__typeof__(api->field))dlsym(handle, #symbol);                  \
        if (api->field == NULL) {                                                     \
            snprintf(error, error_length, "%s lacks %s", library, #symbol);          \
            dlclose(handle);                                                          \
            memset(api, 0, sizeof(*api));                                             \
            return -1;                                                                \
        }                                                                             \
    } while (0)

int kx_kadm5_load(const char *library, kx_kadm5_api *api, char *error, size_t error_length) {
    memset(api, 0, sizeof(*api));
    // RTLD_LOCAL keeps its kadm5_* symbols out of the global scope, so the
    // server and client libraries never shadow each other.
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        snprintf(error, error_length, "cannot load %s: %s", library, dlerror());
        return -1;
    }
    KX_LOAD(init_krb5_context, kadm5_init_krb5_context);
    KX_LOAD(init_with_password, kadm5_init_with_password);
    KX_LOAD(init_with_skey, kadm5_init_with_skey);
    KX_LOAD(destroy, kadm5_destroy);
    KX_LOAD(init_iprop, kadm5_init_iprop);
    KX_LOAD(get_principal, kadm5_get_principal);
    KX_LOAD(free_principal_ent, kadm5_free_principal_ent);
    KX_LOAD(create_principal_3, kadm5_create_principal_3);
    KX_LOAD(modify_principal, kadm5_modify_principal);
    KX_LOAD(delete_principal, kadm5_delete_principal);
    KX_LOAD(setkey_principal_4, kadm5_setkey_principal_4);
    KX_LOAD(get_principal_keys, kadm5_get_principal_keys);
    KX_LOAD(free_kadm5_key_data, kadm5_free_kadm5_key_data);
    KX_LOAD(purgekeys, kadm5_purgekeys);
    KX_LOAD(get_principals, kadm5_get_principals);
    KX_LOAD(free_name_list, kadm5_free_name_list);
    KX_LOAD(get_strings, kadm5_get_strings);
    KX_LOAD(set_string, kadm5_set_string);
    KX_LOAD(free_strings, kadm5_free_strings);
    KX_LOAD(get_policy, kadm5_get_policy);
    KX_LOAD(free_policy_ent, kadm5_free_policy_ent);
    KX_LOAD(create_policy, kadm5_create_policy);
    api->library = handle;
    return 0;
}
