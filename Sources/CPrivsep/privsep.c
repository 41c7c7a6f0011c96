#define _GNU_SOURCE
#include "CPrivsep.h"
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

/* prctl is variadic and setres[ug]id need _GNU_SOURCE: neither reaches Swift. */
int kx_drop_privileges(uid_t uid, gid_t gid, int parent_death_signal) {
    if (setgroups(1, &gid) != 0) return 1;
    if (setresgid(gid, gid, gid) != 0) return 2;
    if (setresuid(uid, uid, uid) != 0) return 3;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 4;
    /* Cleared by the credential change above, so set after it. */
    if (parent_death_signal && prctl(PR_SET_PDEATHSIG, parent_death_signal, 0, 0, 0) != 0) return 5;
    return 0;
}
