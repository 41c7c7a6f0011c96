#ifndef KXOVER_CPRIVSEP_H
#define KXOVER_CPRIVSEP_H
#include <sys/types.h>

/* The engine's drop to an unprivileged account: groups, gid, uid (real,
 * effective and saved), then PR_SET_NO_NEW_PRIVS and a parent-death signal.
 * Returns 0, or the step that failed (1..5) with errno set. */
int kx_drop_privileges(uid_t uid, gid_t gid, int parent_death_signal);

#endif
