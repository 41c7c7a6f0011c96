#define _GNU_SOURCE
#include "CEvent.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* bind(2) of a UNIX socket whose file gets exactly `mode`: on a thread of
 * its own that unshares its file-system context (CLONE_FS), so the umask it
 * sets for the bind is its own and no other thread's file takes it. No
 * chmod follows, so no path someone swapped for a symlink is touched. */
struct bind_job {
    int fd;
    const void *address;
    unsigned int length;
    unsigned int mode;
    int result;
    int error;
};

static void *bind_on_own_umask(void *argument) {
    struct bind_job *job = argument;
    /* Where unshare is refused (a seccomp filter), the umask is the
     * process's for the bind alone, as before: still no chmod after. */
    int own = unshare(CLONE_FS) == 0;
    mode_t saved = umask(~job->mode & 0777);
    job->result = bind(job->fd, (const struct sockaddr *)job->address, (socklen_t)job->length);
    job->error = errno;
    if (!own) umask(saved);
    return NULL;
}

int kx_bind_with_mode(int fd, const void *address, unsigned int length, unsigned int mode) {
    struct bind_job job = { fd, address, length, mode, -1, 0 };
    pthread_t thread;
    int started = pthread_create(&thread, NULL, bind_on_own_umask, &job);
    if (started != 0) {
        errno = started;
        return -1;
    }
    pthread_join(thread, NULL);
    errno = job.error;
    return job.result;
}
