#define _GNU_SOURCE
#include "CFDPass.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

// Room for this many descriptors in one control message; more are a protocol
// error by the sender, but the kernel still needs somewhere to put them.
enum { KX_FDPASS_CONTROL_FDS = 8 };

ssize_t kx_fdpass_send(int sock, const void *bytes, size_t length, int fd) {
    struct iovec iov = { .iov_base = (void *)bytes, .iov_len = length };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buffer;
        msg.msg_controllen = sizeof control.buffer;
        struct cmsghdr *header = CMSG_FIRSTHDR(&msg);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(header), &fd, sizeof fd);
    }
    ssize_t sent;
    do {
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t kx_fdpass_recv(int sock, void *bytes, size_t length, int *fds, int max_fds, int *fd_count) {
    *fd_count = 0;
    struct iovec iov = { .iov_base = bytes, .iov_len = length };
    union {
        char buffer[CMSG_SPACE(KX_FDPASS_CONTROL_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.buffer, .msg_controllen = sizeof control.buffer,
    };
    ssize_t received;
    do {
        received = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (received < 0 && errno == EINTR);
    if (received < 0) return -1;

    for (struct cmsghdr *header = CMSG_FIRSTHDR(&msg); header != NULL; header = CMSG_NXTHDR(&msg, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int passed;
            memcpy(&passed, CMSG_DATA(header) + i * sizeof(int), sizeof passed);
            if (*fd_count < max_fds) {
                fds[(*fd_count)++] = passed;
            } else {
                close(passed);  // superfluous: never leak what a peer sends
            }
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        for (int i = 0; i < *fd_count; i++) close(fds[i]);
        *fd_count = 0;
        errno = EPROTO;
        return -1;
    }
    return received;
}

int kx_fdpass_memfd(const char *name, const void *bytes, size_t length) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    const char *cursor = bytes;
    size_t left = length;
    while (left > 0) {
        ssize_t written = write(fd, cursor, left);
        if (written < 0) {
            if (errno == EINTR) continue;
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        cursor += written;
        left -= (size_t)written;
    }
    // Sealed, so the reader can trust that size and content stay as they are.
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int kx_fdpass_is_sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    int wanted = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    return seals >= 0 && (seals & wanted) == wanted;
}

int kx_fdpass_socketpair(int type, int fds[2]) {
    return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds);
}

int kx_fdpass_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (wanted == flags) return 0;
    return fcntl(fd, F_SETFL, wanted);
}

#include <netinet/in.h>
#include <netinet/tcp.h>

void kx_fdpass_set_nodelay(int fd) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
