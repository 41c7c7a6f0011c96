/* The relay floor for scripts/krb5-client-bench: what one more loopback hop
 * costs a Kerberos client with nothing of kxoverd around it. A single-thread
 * epoll relay in front of krb5kdc that looks at nothing: a UDP datagram goes
 * to krb5kdc from a connected UDP socket of its own (pooled) and the reply
 * goes back; a TCP client's length-prefixed request goes to krb5kdc over UDP
 * as well (as kxoverd's udp-first policy does) and the reply is written back
 * with its length, then the connection is closed. No retransmissions, no
 * limits beyond fixed tables: a benchmark aid for loopback, not a relay.
 *
 * usage: relay-floor LISTEN_PORT BACKEND_PORT   (both on 127.0.0.1; runs
 * until killed). Prints "ready" once it listens. */
#define _GNU_SOURCE   /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOTS 256          /* backend requests in flight at once */
#define CONNECTIONS 1024   /* TCP clients at once */
#define MAX_MESSAGE 65536

/* One backend request: a connected UDP socket and where its reply goes. */
struct slot {
    int fd, busy;
    struct sockaddr_in client;   /* UDP client, when tcp < 0 */
    int tcp;                     /* TCP client connection index, or -1 */
};

/* One TCP client: its request as it arrives. */
struct connection {
    int fd;
    size_t have;
    unsigned char buffer[MAX_MESSAGE + 4];
};

static struct slot slots[SLOTS];
static struct connection *connections[CONNECTIONS];
static struct sockaddr_in backend;
static int epoll_fd, udp_fd, tcp_fd;
static unsigned char scratch[MAX_MESSAGE];

/* epoll data: 0 = UDP listener, 1 = TCP listener, 2+i = slot i, 2+SLOTS+j = connection j. */
static void watch(int fd, uint64_t tag) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = tag};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) { perror("epoll_ctl"); exit(1); }
}

static int take_slot(void) {
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].busy) continue;
        if (slots[i].fd < 0) {
            int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&backend, sizeof backend) != 0) { perror("backend"); exit(1); }
            slots[i].fd = fd;
            watch(fd, 2 + i);
        }
        slots[i].busy = 1;
        return i;
    }
    return -1;   /* all busy: the request is dropped, the client retries */
}

static void close_connection(int j) {
    close(connections[j]->fd);
    free(connections[j]);
    connections[j] = NULL;
}

static void udp_request(void) {
    for (;;) {
        struct sockaddr_in client;
        socklen_t length = sizeof client;
        ssize_t n = recvfrom(udp_fd, scratch, sizeof scratch, MSG_DONTWAIT, (struct sockaddr *)&client, &length);
        if (n <= 0) return;
        int i = take_slot();
        if (i < 0) continue;
        slots[i].client = client;
        slots[i].tcp = -1;
        send(slots[i].fd, scratch, (size_t)n, 0);
    }
}

static void backend_reply(int i) {
    ssize_t n = recv(slots[i].fd, scratch + 4, sizeof scratch - 4, MSG_DONTWAIT);
    if (n < 0 || !slots[i].busy) return;
    slots[i].busy = 0;
    if (slots[i].tcp < 0) {
        sendto(udp_fd, scratch + 4, (size_t)n, 0, (struct sockaddr *)&slots[i].client, sizeof slots[i].client);
        return;
    }
    int j = slots[i].tcp;
    if (!connections[j]) return;
    uint32_t prefix = htonl((uint32_t)n);
    memcpy(scratch, &prefix, 4);
    (void)!write(connections[j]->fd, scratch, (size_t)n + 4);   /* small replies: the socket takes them whole */
    close_connection(j);
}

static void tcp_accept(void) {
    for (;;) {
        int fd = accept4(tcp_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) return;
        int j = 0;
        while (j < CONNECTIONS && connections[j]) j++;
        if (j == CONNECTIONS) { close(fd); continue; }
        connections[j] = calloc(1, sizeof *connections[j]);
        connections[j]->fd = fd;
        watch(fd, 2 + SLOTS + j);
    }
}

static void tcp_readable(int j) {
    struct connection *c = connections[j];
    ssize_t n = read(c->fd, c->buffer + c->have, sizeof c->buffer - c->have);
    if (n <= 0) { if (n == 0 || errno != EAGAIN) close_connection(j); return; }
    c->have += (size_t)n;
    if (c->have < 4) return;
    uint32_t length;
    memcpy(&length, c->buffer, 4);
    length = ntohl(length);
    if (length > MAX_MESSAGE) { close_connection(j); return; }
    if (c->have < 4 + length) return;
    int i = take_slot();
    if (i < 0) { close_connection(j); return; }
    slots[i].tcp = j;
    send(slots[i].fd, c->buffer + 4, length, 0);
}

static int listener(int type, int port) {
    int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0
        || (type == SOCK_STREAM && listen(fd, 128) != 0)) { perror("listen"); exit(1); }
    return fd;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: relay-floor LISTEN_PORT BACKEND_PORT\n"); return 2; }
    backend.sin_family = AF_INET;
    backend.sin_port = htons((uint16_t)atoi(argv[2]));
    backend.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < SLOTS; i++) slots[i].fd = -1;
    epoll_fd = epoll_create1(0);
    udp_fd = listener(SOCK_DGRAM, atoi(argv[1]));
    tcp_fd = listener(SOCK_STREAM, atoi(argv[1]));
    watch(udp_fd, 0);
    watch(tcp_fd, 1);
    printf("ready\n");
    fflush(stdout);
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 64, -1);
        for (int k = 0; k < n; k++) {
            uint64_t tag = events[k].data.u64;
            if (tag == 0) udp_request();
            else if (tag == 1) tcp_accept();
            else if (tag < 2 + SLOTS) backend_reply((int)(tag - 2));
            else if (connections[tag - 2 - SLOTS]) tcp_readable((int)(tag - 2 - SLOTS));
        }
    }
}
