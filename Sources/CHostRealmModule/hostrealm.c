// kxover's hostrealm module for MIT krb5: see include/CHostRealmModule.h for
// the configuration and the line protocol it speaks with kxoverd.
//
// The KDC calls host_realm synchronously while it processes a TGS-REQ, so
// everything here is bounded: one non-blocking socket, one deadline for
// connect + write + read together, no state kept between calls (nothing to
// leak, nothing shared with forked KDC workers), MSG_NOSIGNAL on every send.
#define _GNU_SOURCE
#include "CHostRealmModule.h"

#include <errno.h>
#include <krb5/hostrealm_plugin.h>
#include <krb5/krb5.h>
#include <poll.h>
#include <profile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

// MARK: - Names

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

int kx_hostrealm_valid_realm(const char *name, size_t length) {
    // kxover's RealmName.isValid: upper-case DNS-style, at least two labels.
    if (length < 3 || length > 253) return 0;
    size_t label = 0, labels = 1;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-') return 0;
            label = 0;
            labels++;
            continue;
        }
        if (!(is_upper(c) || is_digit(c) || c == '-')) return 0;
        if (label == 0 && c == '-') return 0;
        if (++label > 63) return 0;
    }
    return label > 0 && name[length - 1] != '-' && labels >= 2;
}

int kx_hostrealm_valid_host(const char *host) {
    if (host == NULL) return 0;
    size_t length = strnlen(host, 255);
    if (length > 0 && host[length - 1] == '.') length--;   // one root dot is fine
    if (length < 3 || length > 253) return 0;
    size_t label = 0, dots = 0;
    for (size_t i = 0; i < length; i++) {
        char c = host[i];
        if (c == '.') {
            if (label == 0) return 0;
            label = 0;
            dots++;
            continue;
        }
        if (!(is_upper(c) || is_lower(c) || is_digit(c) || c == '-' || c == '_')) return 0;
        if (++label > 63) return 0;
    }
    return label > 0 && dots > 0;
}

// MARK: - One question with one deadline

static long long monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000;
}

// Waits until `fd` is ready for `events` or the deadline passes.
// 0: ready (or in error, which the next call reports); KX_HR_TIMEOUT; KX_HR_IO.
static int wait_ready(int fd, short events, long long deadline_us) {
    for (;;) {
        long long left = deadline_us - monotonic_us();
        if (left <= 0) return KX_HR_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)((left + 999) / 1000));
        if (n > 0) return 0;
        if (n == 0) continue;   // re-checks the deadline (poll rounds up)
        if (errno != EINTR) return KX_HR_IO;
    }
}

static int connect_socket(int fd, const char *path, long long deadline_us) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof address.sun_path) return KX_HR_UNREACHABLE;
    memcpy(address.sun_path, path, length);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) == 0) return 0;
    // A full listen backlog is EAGAIN on Linux AF_UNIX: kxoverd is not
    // keeping up, which is doubt enough. EINPROGRESS is not expected for
    // AF_UNIX but costs nothing to handle.
    if (errno != EINPROGRESS && errno != EINTR) return KX_HR_UNREACHABLE;
    int waited = wait_ready(fd, POLLOUT, deadline_us);
    if (waited != 0) return waited;
    int error = 0;
    socklen_t size = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) return KX_HR_UNREACHABLE;
    return 0;
}

static int send_all(int fd, const char *bytes, size_t length, long long deadline_us) {
    size_t sent = 0;
    while (sent < length) {
        ssize_t n = send(fd, bytes + sent, length - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int waited = wait_ready(fd, POLLOUT, deadline_us);
            if (waited != 0) return waited;
            continue;
        }
        return errno == EPIPE || errno == ECONNRESET ? KX_HR_UNREACHABLE : KX_HR_IO;
    }
    return 0;
}

// Reads one line (without its LF) into `line`; nothing may follow the LF.
static int receive_line(int fd, char *line, size_t *line_length, long long deadline_us) {
    char buffer[KX_HOSTREALM_MAX_LINE];
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, buffer + have, sizeof buffer - have, 0);
        if (n > 0) {
            have += (size_t)n;
            char *lf = memchr(buffer, '\n', have);
            if (lf != NULL) {
                size_t length = (size_t)(lf - buffer);
                if (length + 1 != have) return KX_HR_MALFORMED;   // more than one line
                memcpy(line, buffer, length);
                line[length] = '\0';
                *line_length = length;
                return 0;
            }
            if (have == sizeof buffer) return KX_HR_MALFORMED;   // too long
            continue;
        }
        if (n == 0) return KX_HR_MALFORMED;   // closed before a whole line
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int waited = wait_ready(fd, POLLIN, deadline_us);
            if (waited != 0) return waited;
            continue;
        }
        return errno == ECONNRESET ? KX_HR_UNREACHABLE : KX_HR_IO;
    }
}

int kx_hostrealm_ask(const char *socket_path, const char *host, int timeout_ms,
                     char *realm_out, size_t realm_size) {
    if (socket_path == NULL || realm_out == NULL || realm_size < KX_HOSTREALM_MAX_LINE) return KX_HR_IO;
    realm_out[0] = '\0';
    if (!kx_hostrealm_valid_host(host)) return KX_HR_BAD_HOST;
    if (timeout_ms <= 0) return KX_HR_TIMEOUT;
    long long deadline_us = monotonic_us() + (long long)timeout_ms * 1000LL;

    char request[KX_HOSTREALM_MAX_LINE];
    size_t host_length = strlen(host);   // <= 254, checked above
    memcpy(request, host, host_length);
    request[host_length] = '\n';

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return KX_HR_IO;
    char line[KX_HOSTREALM_MAX_LINE];
    size_t length = 0;
    int outcome = connect_socket(fd, socket_path, deadline_us);
    if (outcome == 0) outcome = send_all(fd, request, host_length + 1, deadline_us);
    if (outcome == 0) outcome = receive_line(fd, line, &length, deadline_us);
    close(fd);
    if (outcome != 0) return outcome;

    if (length >= 2 && line[0] == 'n' && line[1] == 'o' && (length == 2 || line[2] == ' ')) return KX_HR_NO;
    if (!kx_hostrealm_valid_realm(line, length)) return KX_HR_MALFORMED;
    memcpy(realm_out, line, length + 1);
    return KX_HR_REALM;
}

// MARK: - The MIT krb5 hostrealm interface

struct krb5_hostrealm_moddata_st {
    char *socket_path;   // NULL: not configured, every answer is NO_HANDLE
};

static krb5_error_code kx_init(krb5_context context, krb5_hostrealm_moddata *data_out) {
    struct krb5_hostrealm_moddata_st *data = calloc(1, sizeof *data);
    if (data == NULL) return ENOMEM;
    profile_t profile = NULL;
    char *value = NULL;
    if (krb5_get_profile(context, &profile) == 0) {
        if (profile_get_string(profile, "kxover", "hostrealm_socket", NULL, NULL, &value) == 0 && value != NULL
            && value[0] != '\0')
            data->socket_path = strdup(value);
        profile_release_string(value);
        profile_release(profile);
    }
    *data_out = data;
    return 0;
}

static void kx_fini(krb5_context context, krb5_hostrealm_moddata data) {
    (void)context;
    if (data == NULL) return;
    free(data->socket_path);
    free(data);
}

static krb5_error_code kx_host_realm(krb5_context context, krb5_hostrealm_moddata data, const char *host,
                                     char ***realms_out) {
    (void)context;
    if (data == NULL || data->socket_path == NULL) return KRB5_PLUGIN_NO_HANDLE;
    char realm[KX_HOSTREALM_MAX_LINE];
    if (kx_hostrealm_ask(data->socket_path, host, KX_HOSTREALM_TIMEOUT_MS, realm, sizeof realm) != KX_HR_REALM)
        return KRB5_PLUGIN_NO_HANDLE;
    char **list = calloc(2, sizeof *list);
    if (list == NULL) return KRB5_PLUGIN_NO_HANDLE;
    list[0] = strdup(realm);
    if (list[0] == NULL) {
        free(list);
        return KRB5_PLUGIN_NO_HANDLE;
    }
    *realms_out = list;
    return 0;
}

static void kx_free_list(krb5_context context, krb5_hostrealm_moddata data, char **list) {
    (void)context;
    (void)data;
    if (list == NULL) return;
    for (char **p = list; *p != NULL; p++) free(*p);
    free(list);
}

krb5_error_code hostrealm_kxover_initvt(krb5_context context, int maj_ver, int min_ver,
                                        krb5_plugin_vtable vtable);

__attribute__((visibility("default"))) krb5_error_code
hostrealm_kxover_initvt(krb5_context context, int maj_ver, int min_ver, krb5_plugin_vtable vtable) {
    (void)context;
    (void)min_ver;
    if (maj_ver != 1) return KRB5_PLUGIN_VER_NOTSUPP;
    krb5_hostrealm_vtable vt = (krb5_hostrealm_vtable)vtable;
    vt->name = "kxover";
    vt->init = kx_init;
    vt->fini = kx_fini;
    vt->host_realm = kx_host_realm;   // fallback_realm and default_realm: not ours to guess
    vt->free_list = kx_free_list;
    return 0;
}
