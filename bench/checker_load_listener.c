/* Listener for bench/checker_load_vm.py: accepts and closes connections on
 * PORTS ports from BASE (any address), and measures, per destination
 * (address, port) -- i.e. per real server -- the regularity of the checks:
 * for each connection, jitter = |time since the previous connection to the
 * same destination - INTERVAL|.
 *
 *   checker_load_listener BASE PORTS INTERVAL_MS
 *   SIGUSR1: start a measurement window (forget the samples, keep the last
 *            connection times); SIGUSR2: print the window's statistics on
 *            stdout, one line.
 *
 * Destinations are told apart by getsockname() on the accepted socket, so
 * the checked addresses must be 127.A.B.C with A.B.C < 2^14 in
 * ((B & 0x3f) << 8 | C) (127/8 is all local on Linux).
 * Build: gcc -O2 -static -o checker_load_listener checker_load_listener.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ADDRS (1 << 14)
#define MAX_SAMPLES (16u << 20)

static volatile sig_atomic_t want_reset, want_dump;
static void on_usr1(int s) { (void)s; want_reset = 1; }
static void on_usr2(int s) { (void)s; want_dump = 1; }

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BASE PORTS INTERVAL_MS\n", argv[0]);
        return 2;
    }
    int base = atoi(argv[1]), ports = atoi(argv[2]);
    int64_t interval = (int64_t)atoi(argv[3]) * 1000;
    struct rlimit rl = {65536, 65536};
    setrlimit(RLIMIT_NOFILE, &rl);
    int64_t *last = calloc((size_t)ADDRS * ports, sizeof *last);
    uint32_t *seen = calloc((size_t)ADDRS * ports, sizeof *seen);
    uint32_t *samples = malloc(MAX_SAMPLES * sizeof *samples);
    if (!last || !seen || !samples) { perror("alloc"); return 1; }
    size_t n = 0, accepts = 0, firsts = 0, foreign = 0;
    int64_t window_start = now_us();
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, on_usr2);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(0);
    for (int i = 0; i < ports; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(base + i)};
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4096)) {
            perror("bind/listen");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    }
    printf("listening on %d ports from %d\n", ports, base);
    fflush(stdout);
    for (;;) {
        if (want_reset) {
            want_reset = 0;
            n = accepts = firsts = foreign = 0;
            memset(seen, 0, (size_t)ADDRS * ports * sizeof *seen);
            window_start = now_us();
        }
        if (want_dump) {
            want_dump = 0;
            double secs = (now_us() - window_start) / 1e6;
            size_t dests = 0;
            for (size_t i = 0; i < (size_t)ADDRS * ports; i++) dests += seen[i] != 0;
            qsort(samples, n, sizeof *samples, cmp_u32);
#define Q(q) (n ? samples[(size_t)((n - 1) * (q) + 0.5)] : 0)
            printf("LISTENER window_s=%.2f accepts=%zu dests=%zu firsts=%zu foreign=%zu samples=%zu "
                   "p50_us=%u p90_us=%u p99_us=%u p999_us=%u max_us=%u\n",
                   secs, accepts, dests, firsts, foreign, n, Q(0.5), Q(0.9), Q(0.99), Q(0.999),
                   n ? samples[n - 1] : 0);
            fflush(stdout);
        }
        struct epoll_event evs[128];
        int k = epoll_wait(ep, evs, 128, 100);
        if (k < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int e = 0; e < k; e++) {
            for (int burst = 0; burst < 256; burst++) {
                int c = accept4(evs[e].data.fd, NULL, NULL, SOCK_NONBLOCK);
                if (c < 0) break;
                int64_t t = now_us();
                struct sockaddr_in d;
                socklen_t dl = sizeof d;
                getsockname(c, (struct sockaddr *)&d, &dl);
                close(c);
                accepts++;
                uint32_t ip = ntohl(d.sin_addr.s_addr);
                int port = ntohs(d.sin_port) - base;
                if ((ip >> 24) != 127 || port < 0 || port >= ports) { foreign++; continue; }
                size_t key = (size_t)(((ip >> 8) & 0x3f) << 8 | (ip & 0xff)) * ports + port;
                seen[key]++;
                if (last[key]) {
                    int64_t j = t - last[key] - interval;
                    if (j < 0) j = -j;
                    if (n < MAX_SAMPLES) samples[n++] = j > UINT32_MAX ? UINT32_MAX : (uint32_t)j;
                } else {
                    firsts++;
                }
                last[key] = t;
            }
        }
    }
}
