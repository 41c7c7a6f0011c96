/* The TLS floor for kxover-tls-bench: what the pool's handshake costs with
 * nothing of the pool around it. One full mutual TLS 1.3 handshake in
 * process with GnuTLS, the same certificates and priority as the pool, over
 * a fresh AF_UNIX socketpair with one thread per side; each side checks
 * the peer's SPKI against its pin (DANE-EE 3 1 1) and derives a 64-byte
 * exporter with a 300-byte context, as a KXOVER exchange does.
 *
 * usage: tls-floor CERT_DIR COUNT [IN_FLIGHT]   (CERT_DIR as scripts/kdccert
 * makes it: client.{crt,key,tlsa-ee}, service.{crt,key,tlsa-ee}). With
 * IN_FLIGHT (default 1) lanes, each running its share of the handshakes one
 * after the other, that many are in flight at once. Prints handshakes a
 * second and the median in ms. Bounded: COUNT handshakes. */
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define LABEL "EXPORTER-KXOVER-test"

struct side {
    gnutls_certificate_credentials_t credentials;
    unsigned char pin[32];   /* the peer's SPKI SHA-256 */
    int server;
    int fd;
    unsigned char exported[64];
    int ok;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) { fprintf(stderr, "tls-floor: %s\n", what); exit(1); }

static void read_pin(const char *path, unsigned char pin[32]) {
    FILE *f = fopen(path, "r");
    char text[256];
    unsigned usage, selector, type;
    char hex[80];
    if (!f || !fgets(text, sizeof text, f) || sscanf(text, "%u %u %u %79s", &usage, &selector, &type, hex) != 4 || strlen(hex) != 64)
        die("cannot read a 3 1 1 pin");
    fclose(f);
    for (int i = 0; i < 32; i++) sscanf(hex + 2 * i, "%2hhx", &pin[i]);
}

static int peer_matches_pin(gnutls_session_t session, const unsigned char pin[32]) {
    unsigned count = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(session, &count);
    if (!chain || count == 0) return 0;
    gnutls_x509_crt_t crt;
    gnutls_pubkey_t key;
    gnutls_datum_t spki = { NULL, 0 };
    unsigned char digest[32];
    int ok = 0;
    if (gnutls_x509_crt_init(&crt) < 0) return 0;
    if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) >= 0 && gnutls_pubkey_init(&key) >= 0) {
        if (gnutls_pubkey_import_x509(key, crt, 0) >= 0 && gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki) >= 0) {
            ok = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, digest) >= 0 && memcmp(digest, pin, 32) == 0;
            gnutls_free(spki.data);
        }
        gnutls_pubkey_deinit(key);
    }
    gnutls_x509_crt_deinit(crt);
    return ok;
}

static void *run_side(void *argument) {
    struct side *side = argument;
    gnutls_session_t session;
    unsigned char context[300];
    memset(context, 0x5a, sizeof context);
    side->ok = 0;
    if (gnutls_init(&session, side->server ? GNUTLS_SERVER : GNUTLS_CLIENT) < 0) return NULL;
    gnutls_priority_set_direct(session, PRIORITY, NULL);
    gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, side->credentials);
    if (side->server) gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
    else gnutls_server_name_set(session, GNUTLS_NAME_DNS, "kdc.service.test", strlen("kdc.service.test"));
    gnutls_transport_set_int(session, side->fd);
    int result;
    do { result = gnutls_handshake(session); } while (result < 0 && !gnutls_error_is_fatal(result));
    if (result >= 0 && peer_matches_pin(session, side->pin)
        && gnutls_prf_rfc5705(session, strlen(LABEL), LABEL, sizeof context, (const char *)context,
                              sizeof side->exported, (char *)side->exported) >= 0)
        side->ok = 1;
    gnutls_deinit(session);
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One lane: `count` handshakes one after the other, each timed into `durations`. */
struct lane {
    struct side client, server;
    int count;
    double *durations;
    int failed;
};

static void *run_lane(void *argument) {
    struct lane *lane = argument;
    for (int i = 0; i < lane->count; i++) {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) { lane->failed = 1; return NULL; }
        lane->client.fd = pair[0]; lane->server.fd = pair[1];
        double t0 = now();
        pthread_t ct, st;
        pthread_create(&st, NULL, run_side, &lane->server);
        pthread_create(&ct, NULL, run_side, &lane->client);
        pthread_join(ct, NULL);
        pthread_join(st, NULL);
        lane->durations[i] = now() - t0;
        close(pair[0]); close(pair[1]);
        if (!lane->client.ok || !lane->server.ok || memcmp(lane->client.exported, lane->server.exported, 64) != 0) {
            lane->failed = 1;
            return NULL;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: tls-floor CERT_DIR COUNT [IN_FLIGHT]\n"); return 2; }
    const char *dir = argv[1];
    int count = atoi(argv[2]);
    int lanes = argc > 3 ? atoi(argv[3]) : 1;
    if (count <= 0 || count > 100000) die("COUNT must be 1 to 100000");
    if (lanes <= 0 || lanes > 500 || lanes > count) die("IN_FLIGHT must be 1 to 500, at most COUNT");
    char a[1024], b[1024];
    struct side client = { .server = 0 }, server = { .server = 1 };
    gnutls_global_init();
    gnutls_certificate_allocate_credentials(&client.credentials);
    gnutls_certificate_allocate_credentials(&server.credentials);
    snprintf(a, sizeof a, "%s/client.crt", dir); snprintf(b, sizeof b, "%s/client.key", dir);
    if (gnutls_certificate_set_x509_key_file2(client.credentials, a, b, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) die("client credentials");
    snprintf(a, sizeof a, "%s/service.crt", dir); snprintf(b, sizeof b, "%s/service.key", dir);
    if (gnutls_certificate_set_x509_key_file2(server.credentials, a, b, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) die("service credentials");
    snprintf(a, sizeof a, "%s/service.tlsa-ee", dir); read_pin(a, client.pin);   /* the client pins the service */
    snprintf(a, sizeof a, "%s/client.tlsa-ee", dir); read_pin(a, server.pin);
    count -= count % lanes;   /* an equal share for each lane */
    double *durations = calloc(count, sizeof *durations);
    struct lane *all = calloc(lanes, sizeof *all);
    pthread_t *ids = calloc(lanes, sizeof *ids);
    double started = now();
    for (int l = 0; l < lanes; l++) {
        all[l] = (struct lane){ .client = client, .server = server, .count = count / lanes,
                                .durations = durations + (size_t)l * (count / lanes) };
        pthread_create(&ids[l], NULL, run_lane, &all[l]);
    }
    for (int l = 0; l < lanes; l++) pthread_join(ids[l], NULL);
    double elapsed = now() - started;
    for (int l = 0; l < lanes; l++) if (all[l].failed) die("a handshake, pin check or exporter failed");
    qsort(durations, count, sizeof *durations, compare);
    printf("%.1f %.3f\n", count / elapsed, durations[count / 2] * 1000);
    return 0;
}
