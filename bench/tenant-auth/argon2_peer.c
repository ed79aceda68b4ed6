/* argon2_peer.c — the bench's peer: bare Argon2id verifications (libsodium, the library tenant-auth
 * hashes with) at the same cost, on THREADS threads for SECONDS seconds; prints verifies/s.
 * Usage: argon2_peer OPSLIMIT MEMLIMIT_KIB THREADS SECONDS */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char hash[crypto_pwhash_STRBYTES];
static atomic_long done;
static double until;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    (void)arg;
    while (now() < until) {
        if (crypto_pwhash_str_verify(hash, "bench-password-1", 16) != 0) abort();
        atomic_fetch_add(&done, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5 || sodium_init() < 0) return 2;
    unsigned long long ops = strtoull(argv[1], NULL, 10);
    size_t mem = (size_t)strtoull(argv[2], NULL, 10) * 1024;
    int threads = atoi(argv[3]);
    double secs = atof(argv[4]);
    if (crypto_pwhash_str_alg(hash, "bench-password-1", 16, ops, mem,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return 2;
    double t0 = now();
    until = t0 + secs;
    pthread_t t[64];
    if (threads < 1 || threads > 64) return 2;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("%.1f\n", (double)atomic_load(&done) / (now() - t0));
    return 0;
}
