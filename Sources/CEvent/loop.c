#include "CEvent.h"
#include <event2/event.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct kx_loop { struct event_base *base; };

kx_loop *kx_loop_new(void) {
    struct event_base *base = event_base_new();
    if (base == NULL) return NULL;
    kx_loop *loop = (kx_loop *)malloc(sizeof(*loop));
    if (loop == NULL) { event_base_free(base); return NULL; }
    loop->base = base;
    return loop;
}

void kx_loop_free(kx_loop *loop) {
    if (loop == NULL) return;
    event_base_free(loop->base);
    free(loop);
}

int kx_loop_run(kx_loop *loop) { return event_base_dispatch(loop->base); }
int kx_loop_run_once(kx_loop *loop) { return event_base_loop(loop->base, EVLOOP_ONCE); }
void kx_loop_break(kx_loop *loop) { event_base_loopbreak(loop->base); }
const char *kx_loop_method(kx_loop *loop) { return event_base_get_method(loop->base); }

kx_event *kx_event_new(kx_loop *loop, int fd, short events, kx_event_callback callback, void *context) {
    return (kx_event *)event_new(loop->base, fd, events, callback, context);
}

int kx_event_add(kx_event *event, double seconds) {
    if (seconds < 0) return event_add((struct event *)event, NULL);
    struct timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    return event_add((struct event *)event, &tv);
}

void kx_event_del(kx_event *event) {
    if (event != NULL) event_del((struct event *)event);
}

void kx_event_free(kx_event *event) {
    if (event == NULL) return;
    event_del((struct event *)event);
    event_free((struct event *)event);
}

int kx_wake_fd_new(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void kx_wake_fd_signal(int fd) {
    uint64_t one = 1;
    (void)!write(fd, &one, sizeof(one));
}

void kx_wake_fd_drain(int fd) {
    uint64_t count;
    (void)!read(fd, &count, sizeof(count));
}
