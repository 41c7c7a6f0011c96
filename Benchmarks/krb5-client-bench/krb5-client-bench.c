// What a Kerberos client sees of a KDC: THREADS threads, each with its own
// libkrb5 context and a memory copy of the TGT in CCACHE, call
// krb5_get_credentials for SERVICE COUNT times (KRB5_GC_NO_STORE, so every
// call is one TGS-REQ and one reply). The KDC, and UDP or TCP, come from
// KRB5_CONFIG. Prints one line: requests, seconds, p50 and p99 latency in
// microseconds. Used by scripts/krb5-client-bench (direct to krb5kdc
// against through kxoverd, interleaved).
#include <krb5/krb5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
    const char *ccache, *service;
    int count;
    double *latencies;   // microseconds, count of them
    int failed;
    pthread_barrier_t *start;
};

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *run(void *arg) {
    struct worker *w = arg;
    krb5_context context;
    krb5_ccache file, memory;
    krb5_creds in, *out = NULL;
    char name[64];
    if (krb5_init_context(&context) != 0) { w->failed = 1; pthread_barrier_wait(w->start); return NULL; }
    snprintf(name, sizeof name, "MEMORY:bench-%p", (void *)w);
    memset(&in, 0, sizeof in);
    if (krb5_cc_resolve(context, w->ccache, &file) || krb5_cc_resolve(context, name, &memory) ||
        krb5_cc_get_principal(context, file, &in.client) || krb5_cc_initialize(context, memory, in.client) ||
        krb5_cc_copy_creds(context, file, memory) || krb5_parse_name(context, w->service, &in.server)) {
        w->failed = 1;
        pthread_barrier_wait(w->start);
        return NULL;
    }
    pthread_barrier_wait(w->start);
    for (int i = 0; i < w->count; i++) {
        double t0 = now_us();
        krb5_error_code code = krb5_get_credentials(context, KRB5_GC_NO_STORE, memory, &in, &out);
        w->latencies[i] = now_us() - t0;
        if (code != 0) {
            const char *message = krb5_get_error_message(context, code);
            fprintf(stderr, "krb5_get_credentials: %s\n", message);
            krb5_free_error_message(context, message);
            w->failed = 1;
            break;
        }
        krb5_free_creds(context, out);
    }
    krb5_free_cred_contents(context, &in);
    krb5_cc_destroy(context, memory);
    krb5_cc_close(context, file);
    krb5_free_context(context);
    return NULL;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s CCACHE SERVICE COUNT THREADS\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[3]), threads = atoi(argv[4]);
    if (count < 1 || count > 100000 || threads < 1 || threads > 64) { fprintf(stderr, "bad COUNT or THREADS\n"); return 2; }
    struct worker *workers = calloc((size_t)threads, sizeof *workers);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    double *all = calloc((size_t)count * (size_t)threads, sizeof *all);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        workers[t] = (struct worker){ argv[1], argv[2], count, all + (size_t)t * (size_t)count, 0, &start };
        pthread_create(&ids[t], NULL, run, &workers[t]);
    }
    pthread_barrier_wait(&start);
    double t0 = now_us();
    for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    double seconds = (now_us() - t0) / 1e6;
    for (int t = 0; t < threads; t++) if (workers[t].failed) { fprintf(stderr, "a worker failed\n"); return 1; }
    size_t n = (size_t)count * (size_t)threads;
    qsort(all, n, sizeof *all, ascending);
    printf("%zu %.6f %.1f %.1f\n", n, seconds, all[n / 2], all[(size_t)(n * 0.99)]);
    return 0;
}
