#ifndef CFDPASS_H
#define CFDPASS_H
// Socket plumbing for the TLS Pool that Swift cannot express directly:
// SCM_RIGHTS descriptor passing (the CMSG_* macros do not import), sealed
// memfds, and TCP_NODELAY for the pool's TCP sockets.
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

/// Turns off Nagle's algorithm on a TCP socket (no-op for other sockets): KX
/// messages are small request/response writes that must not wait for a
/// delayed ACK (about 40 ms on Linux).
void kx_fdpass_set_nodelay(int fd);

/// Sets or clears O_NONBLOCK. Returns 0, or -1 with errno set.
int kx_fdpass_set_nonblocking(int fd, int on);
#endif
