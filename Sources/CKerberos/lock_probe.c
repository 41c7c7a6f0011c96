#include "CKerberos.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int kx_lock_holder(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct flock probe;
    memset(&probe, 0, sizeof(probe));
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    int result = fcntl(fd, F_GETLK, &probe) < 0 ? -errno : (probe.l_type == F_UNLCK ? 0 : (int)probe.l_pid);
    close(fd);
    return result;
}
