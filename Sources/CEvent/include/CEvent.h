#ifndef CEVENT_H
#define CEVENT_H
// A narrow C face for libevent. Swift never sees libevent's own headers
// (they drag <sys/select.h> into a second Clang module and clash with
// Dispatch's), only these few calls.
#include <stdint.h>

typedef struct kx_loop kx_loop;
typedef struct kx_event kx_event;
typedef void (*kx_event_callback)(int fd, short events, void *context);

enum {
    KX_EV_TIMEOUT = 0x01,
    KX_EV_READ = 0x02,
    KX_EV_WRITE = 0x04,
    KX_EV_SIGNAL = 0x08,
    KX_EV_PERSIST = 0x10,
};

/// bind(2) with the file's mode exactly `mode`, without touching the
/// process-wide umask (bind_mode.c). 0, or -1 with errno.
int kx_bind_with_mode(int fd, const void *address, unsigned int length, unsigned int mode);

kx_loop *kx_loop_new(void);
void kx_loop_free(kx_loop *loop);
/// Runs until kx_loop_break or until no events remain. Returns -1 on error.
int kx_loop_run(kx_loop *loop);
/// Runs one pass: waits for at least one event, handles what is ready.
int kx_loop_run_once(kx_loop *loop);
void kx_loop_break(kx_loop *loop);
const char *kx_loop_method(kx_loop *loop);

/// A registration; fd -1 for a pure timer, the signal number with KX_EV_SIGNAL.
kx_event *kx_event_new(kx_loop *loop, int fd, short events, kx_event_callback callback, void *context);
/// Arms it; `seconds` < 0 means no timeout.
int kx_event_add(kx_event *event, double seconds);
/// Disarms and frees it.
/* Takes a pending event off the loop; it may be added again. */
void kx_event_del(kx_event *event);
void kx_event_free(kx_event *event);

/// An eventfd for cross-thread wake-ups (non-blocking, close-on-exec).
int kx_wake_fd_new(void);
void kx_wake_fd_signal(int fd);
void kx_wake_fd_drain(int fd);
#endif
