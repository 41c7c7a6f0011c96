#ifndef CFDPASS_H
#define CFDPASS_H
// Socket plumbing for the TLS Pool that Swift cannot express directly:
// SCM_RIGHTS descriptor passing (the CMSG_* macros do not import), sealed
// memfds, wake descriptors, and cancellable socket I/O for GnuTLS.
#include <stddef.h>
#include <sys/types.h>

/// Sends `length` bytes (normally one 388-byte record) with a single sendmsg,
/// MSG_NOSIGNAL, attaching `fd` as SCM_RIGHTS when fd >= 0.
/// Returns the bytes sent, or -1 with errno set (EAGAIN on a full non-blocking socket).
ssize_t kx_fdpass_send(int sock, const void *bytes, size_t length, int fd);

/// Receives at most `length` bytes with one recvmsg (MSG_CMSG_CLOEXEC) and up to
/// `max_fds` passed descriptors into `fds`; *fd_count says how many arrived. Any
/// descriptors beyond max_fds are closed. A truncated control message
/// (MSG_CTRUNC) closes what did arrive and fails with errno EPROTO.
/// Returns the bytes read (0 at EOF), or -1 with errno set (EAGAIN when a
/// non-blocking socket has nothing).
ssize_t kx_fdpass_recv(int sock, void *bytes, size_t length, int *fds, int max_fds, int *fd_count);

/// A sealed, close-on-exec memfd holding exactly `length` bytes: the carrier
/// for large out-of-band arguments. Returns the fd, or -1 with errno set.
int kx_fdpass_memfd(const char *name, const void *bytes, size_t length);

/// True (1) when `fd` is sealed against writing, growing and shrinking.
int kx_fdpass_is_sealed(int fd);

/// An AF_UNIX socketpair of `type` (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET),
/// both ends close-on-exec. Returns 0, or -1 with errno set.
int kx_fdpass_socketpair(int type, int fds[2]);

/// An eventfd (non-blocking, close-on-exec) that pollers watch to be woken;
/// kx_fdpass_wake_signal makes it readable for good. Returns -1 on error.
int kx_fdpass_wake_fd(void);

/// Turns off Nagle's algorithm on a TCP socket (no-op for other sockets): KX
/// messages are small request/response writes that must not wait for a
/// delayed ACK (about 40 ms on Linux).
void kx_fdpass_set_nodelay(int fd);
void kx_fdpass_wake_signal(int fd);

/// The transport of one TLS session: the TCP socket, a cancel descriptor that
/// wakes every wait once readable, and whether reads return EAGAIN instead
/// of waiting (the relay polls by itself). The three functions below have
/// GnuTLS's pull, push and pull-timeout signatures with `io` as the pointer.
typedef struct kx_io {
    int fd;
    int cancel_fd;
    volatile int nonblocking_reads;
} kx_io;

ssize_t kx_io_pull(void *io, void *buffer, size_t length);
ssize_t kx_io_push(void *io, const void *buffer, size_t length);
/// Returns 1 when readable, 0 on timeout, -1 (ECONNABORTED) when cancelled.
/// `ms` at or above INT_MAX (GnuTLS's indefinite timeout) waits without limit.
int kx_io_pull_timeout(void *io, unsigned int ms);

/// Sets or clears O_NONBLOCK. Returns 0, or -1 with errno set.
int kx_fdpass_set_nonblocking(int fd, int on);
#endif
