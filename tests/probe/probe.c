/*
 * probe: sequenced UDP streams for LimeVI tests.  "send" paces a bounded
 * stream; "recv" reports one JSON line per sender with lost, duplicated
 * and reordered datagrams and the longest gap.  Static, no GLib: it runs
 * in the guests' busybox initramfs as well as on the host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe-disk.h"
#include "probe-get.h"
#include "probe-wire.h"
#include "stream-stats.h"

#define MAX_SENDERS 64
#define RATE_MAX 1000000

static const char usage[] =
    "usage: probe send --to IP:PORT --rate FPS --count N [--size BYTES]"
    " [--delay-ms MS] [--wait-peer-ms MS]"
    " [--id NAME]\n"
    "       probe recv --port PORT [--bind IP] [--timeout-ms MS]"
    " [--duration-ms MS]\n"
    "       probe disk --dev DEV --blocks N --count K --rate WPS"
    " [--id NAME] [--every N]\n"
    "                  [--senders N] [--ready-file PATH]"
    " [--rcvbuf default|BYTES]\n"
    "       probe get --to IP:PORT --rate BYTES/S --out FILE [--path P]"
    " [--rcvbuf BYTES] [--timeout-ms MS]\n"
    "recv prints one JSON line per sender when it ends: after MS without a\n"
    "datagram (default 5000, counted from the start too), after the\n"
    "duration, or once N senders have delivered their last datagram.\n"
    "--rcvbuf: the socket's receive buffer in bytes, forced past rmem_max;\n"
    "by default (or 'default') the kernel's, so a receiver that falls\n"
    "behind loses datagrams as a real application would.  Each line\n"
    "carries rcvbuf_errors, the host's UDP RcvbufErrors while it ran\n"
    "(/proc/net/snmp; -1 when unreadable).\n"
    "disk writes K blocks of 4 KiB of a known pattern to DEV (block k mod\n"
    "N, O_DIRECT), printing a running checksum every N writes (--every),\n"
    "then reads back every block written and prints how many are bad.\n"
    "get downloads P over HTTP/1.0 into FILE, a read due whenever the bytes\n"
    "so far allow it at BYTES/S, from a receive buffer of 100 ms of that\n"
    "(--rcvbuf), so its file grows evenly unless the network stalls; it\n"
    "prints one JSON line with the longest a due read waited.\n";

static int64_t now_ns(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "probe: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

/* Parses a decimal in [min, max]; returns 0 or -1. */
int parse_num(const char *s, long long min, long long max, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    if (errno || end == s || *end || *out < min || *out > max) {
        return -1;
    }
    return 0;
}

/* "IPv4:PORT" into @sa; names are not resolved (static glibc). */
int parse_ipv4_endpoint(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    long long port;

    if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host) ||
        parse_num(colon + 1, 1, 65535, &port) < 0) {
        return -1;
    }
    memcpy(host, s, colon - s);
    host[colon - s] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* A datagram no stream has (shorter than any header): "are you there". */
static const char hello[] = "HELLO";
#define HELLO_LEN (sizeof(hello) - 1)

/*
 * Streams started at boot must not begin before their receiver listens
 * (guests boot seconds apart on a loaded host): say hello every 200 ms
 * until the receiver echoes it, for at most @wait_ms.
 */
static int wait_for_receiver(int fd, const struct sockaddr_in *dst,
                             long long wait_ms)
{
    int64_t end = now_ns(CLOCK_MONOTONIC) + wait_ms * 1000000;
    char buf[16];

    while (now_ns(CLOCK_MONOTONIC) < end) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        sendto(fd, hello, HELLO_LEN, 0, (const struct sockaddr *)dst,
               sizeof(*dst));
        if (poll(&pfd, 1, 200) > 0 &&
            recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == (ssize_t)HELLO_LEN &&
            !memcmp(buf, hello, HELLO_LEN)) {
            return 1;
        }
    }
    return 0;
}

static int cmd_send(int argc, char **argv)
{
    const char *to = NULL, *id = "probe";
    long long rate = 0, count = 0, size = 64, delay_ms = 0, wait_ms = 0;
    struct sockaddr_in dst;
    static uint8_t buf[PROBE_DATAGRAM_MAX];
    ProbeHeader hdr = { 0 };
    int64_t start, period;
    long long errors = 0;
    int fd;

    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (!val) {
            return fail("option '%s' needs a value", opt);
        }
        i++;
        if (!strcmp(opt, "--to")) {
            to = val;
        } else if (!strcmp(opt, "--id")) {
            id = val;
        } else if (!strcmp(opt, "--rate")) {
            if (parse_num(val, 1, RATE_MAX, &rate) < 0) {
                return fail("'--rate' must be 1..1000000, got '%s'", val);
            }
        } else if (!strcmp(opt, "--count")) {
            if (parse_num(val, 1, STREAM_SEQ_LIMIT, &count) < 0) {
                return fail("'--count' must be 1..16777216, got '%s'", val);
            }
        } else if (!strcmp(opt, "--size")) {
            if (parse_num(val, PROBE_HEADER_FIXED + PROBE_ID_MAX,
                          PROBE_DATAGRAM_MAX, &size) < 0) {
                return fail("'--size' must be 56..65507, got '%s'", val);
            }
        } else if (!strcmp(opt, "--delay-ms")) {
            if (parse_num(val, 0, 3600000, &delay_ms) < 0) {
                return fail("'--delay-ms' must be 0..3600000, got '%s'", val);
            }
        } else if (!strcmp(opt, "--wait-peer-ms")) {
            if (parse_num(val, 0, 3600000, &wait_ms) < 0) {
                return fail("'--wait-peer-ms' must be 0..3600000, got '%s'",
                            val);
            }
        } else {
            return fail("unknown option '%s'", opt);
        }
    }
    if (!to || !rate || !count) {
        return fail("send needs %s", "--to, --rate and --count");
    }
    if (parse_ipv4_endpoint(to, &dst) < 0) {
        return fail("'--to' expects IPv4:PORT, got '%s'", to);
    }
    if (!probe_id_valid(id)) {
        return fail("'--id' must be 1..32 of [A-Za-z0-9_.:-], got '%s'", id);
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("probe: socket");
        return 1;
    }

    /* Streams started at boot give their receivers time to listen. */
    if (delay_ms) {
        struct timespec d = { delay_ms / 1000, (delay_ms % 1000) * 1000000 };

        while (nanosleep(&d, &d) < 0 && errno == EINTR) {
        }
    }
    if (wait_ms && !wait_for_receiver(fd, &dst, wait_ms)) {
        fprintf(stderr, "probe: no answer from %s in %lld ms; sending "
                "anyway\n", to, wait_ms);
    }
    snprintf(hdr.id, sizeof(hdr.id), "%s", id);
    hdr.count = count;
    period = 1000000000LL / rate;
    start = now_ns(CLOCK_MONOTONIC);
    for (long long seq = 0; seq < count; seq++) {
        /* An absolute schedule: a late datagram does not delay the rest. */
        int64_t due = start + seq * period;
        struct timespec ts = { due / 1000000000, due % 1000000000 };

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
               == EINTR) {
        }
        hdr.seq = seq;
        hdr.send_ns = now_ns(CLOCK_REALTIME);
        probe_header_encode(&hdr, buf, sizeof(buf));
        if (sendto(fd, buf, size, 0, (struct sockaddr *)&dst,
                   sizeof(dst)) != size) {
            errors++;
        }
    }
    printf("{\"sender\":\"%s\",\"sent\":%lld,\"errors\":%lld,"
           "\"duration_ms\":%.3f}\n", id, count - errors, errors,
           (now_ns(CLOCK_MONOTONIC) - start) / 1e6);
    close(fd);
    return errors ? 1 : 0;
}

static StreamStats *find_sender(StreamStats *senders, int *n,
                                const char *id)
{
    for (int i = 0; i < *n; i++) {
        if (!strcmp(senders[i].sender, id)) {
            return &senders[i];
        }
    }
    if (*n == MAX_SENDERS) {
        return NULL;
    }
    stream_stats_init(&senders[*n], id);
    return &senders[(*n)++];
}

static int all_done(const StreamStats *senders, int n, long long want)
{
    int done = 0;

    for (int i = 0; i < n; i++) {
        done += stream_stats_saw_last(&senders[i]);
    }
    return want > 0 && done >= want;
}

/* The host's UDP RcvbufErrors counter (/proc/net/snmp), or -1. */
static long long udp_rcvbuf_errors(void)
{
    char names[1024], values[1024];
    long long result = -1;
    FILE *f = fopen("/proc/net/snmp", "r");

    if (!f) {
        return -1;
    }
    /* A "Udp:" line of names, then one of values, in the same order. */
    while (fgets(names, sizeof(names), f)) {
        char *n, *v, *np, *vp;

        if (strncmp(names, "Udp: ", 5) || !fgets(values, sizeof(values), f)) {
            continue;
        }
        n = strtok_r(names, " \n", &np);
        v = strtok_r(values, " \n", &vp);
        while (n && v) {
            if (!strcmp(n, "RcvbufErrors")) {
                result = strtoll(v, NULL, 10);
            }
            n = strtok_r(NULL, " \n", &np);
            v = strtok_r(NULL, " \n", &vp);
        }
        break;
    }
    fclose(f);
    return result;
}

static int cmd_recv(int argc, char **argv)
{
    const char *bind_ip = "0.0.0.0", *ready_file = NULL;
    long long port = 0, timeout_ms = 5000, duration_ms = 0, want = 0;
    static StreamStats senders[MAX_SENDERS];
    static uint8_t buf[PROBE_DATAGRAM_MAX];
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int n_senders = 0, rcvbuf = 0, fd;
    long long rcvbuf_errors_start, rcvbuf_errors_end;
    long long rcvbuf_opt;
    long long malformed = 0;
    int64_t start, last;

    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (!val) {
            return fail("option '%s' needs a value", opt);
        }
        i++;
        if (!strcmp(opt, "--port")) {
            if (parse_num(val, 1, 65535, &port) < 0) {
                return fail("'--port' must be 1..65535, got '%s'", val);
            }
        } else if (!strcmp(opt, "--bind")) {
            bind_ip = val;
        } else if (!strcmp(opt, "--ready-file")) {
            ready_file = val;
        } else if (!strcmp(opt, "--timeout-ms")) {
            if (parse_num(val, 1, 3600000, &timeout_ms) < 0) {
                return fail("'--timeout-ms' must be 1..3600000, got '%s'",
                            val);
            }
        } else if (!strcmp(opt, "--duration-ms")) {
            if (parse_num(val, 1, 3600000, &duration_ms) < 0) {
                return fail("'--duration-ms' must be 1..3600000, got '%s'",
                            val);
            }
        } else if (!strcmp(opt, "--rcvbuf")) {
            if (!strcmp(val, "default")) {
                rcvbuf = 0;
            } else if (parse_num(val, 1024, 1 << 30, &rcvbuf_opt) < 0) {
                return fail("'--rcvbuf' must be 'default' or "
                            "1024..1073741824, got '%s'", val);
            } else {
                rcvbuf = (int)rcvbuf_opt;
            }
        } else if (!strcmp(opt, "--senders")) {
            if (parse_num(val, 1, MAX_SENDERS, &want) < 0) {
                return fail("'--senders' must be 1..64, got '%s'", val);
            }
        } else {
            return fail("unknown option '%s'", opt);
        }
    }
    if (!port) {
        return fail("recv needs %s", "--port");
    }
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, bind_ip, &sa.sin_addr) != 1) {
        return fail("'--bind' expects an IPv4 address, got '%s'", bind_ip);
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("probe: bind");
        return 1;
    }
    /* Only when asked: an application's default buffer is what LimeVI
     * must not overflow.  SO_RCVBUFFORCE passes rmem_max as root. */
    if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
                             sizeof(rcvbuf)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");

        if (!f) {
            perror("probe: ready file");
            return 1;
        }
        fclose(f);
    }

    rcvbuf_errors_start = udp_rcvbuf_errors();
    start = last = now_ns(CLOCK_MONOTONIC);
    for (;;) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        int64_t wait_ns = last + timeout_ms * 1000000 - now;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ProbeHeader hdr;
        StreamStats *s;
        struct sockaddr_in from;
        socklen_t from_len;
        ssize_t len;

        if (duration_ms && start + duration_ms * 1000000 - now < wait_ns) {
            wait_ns = start + duration_ms * 1000000 - now;
        }
        if (wait_ns <= 0 || all_done(senders, n_senders, want)) {
            break;
        }
        if (poll(&pfd, 1, (wait_ns + 999999) / 1000000) <= 0) {
            continue;
        }
        from_len = sizeof(from);
        len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
                       (struct sockaddr *)&from, &from_len);
        if (len < 0) {
            continue;
        }
        if (len == (ssize_t)HELLO_LEN && !memcmp(buf, hello, HELLO_LEN)) {
            sendto(fd, buf, len, 0, (struct sockaddr *)&from, from_len);
            continue;
        }
        last = now_ns(CLOCK_MONOTONIC);
        if (probe_header_decode(buf, len, &hdr) < 0 ||
            !(s = find_sender(senders, &n_senders, hdr.id)) ||
            stream_stats_add(s, hdr.seq, hdr.count, last) < 0) {
            malformed++;
        }
    }

    rcvbuf_errors_end = udp_rcvbuf_errors();
    for (int i = 0; i < n_senders; i++) {
        char line[512];
        int n = stream_stats_format(&senders[i], line, sizeof(line));

        /* The object's closing brace makes room for the host's count. */
        if (n > 0 && n < (int)sizeof(line)) {
            line[n - 1] = '\0';
        }
        printf("%s,\"rcvbuf_errors\":%lld}\n", line,
               rcvbuf_errors_start < 0 || rcvbuf_errors_end < 0 ? -1 :
               rcvbuf_errors_end - rcvbuf_errors_start);
        stream_stats_clear(&senders[i]);
    }
    if (malformed) {
        fprintf(stderr, "probe: %lld datagrams were not probe datagrams\n",
                malformed);
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    /* One line per report even when stdout is a pipe or file. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "send")) {
        return cmd_send(argc, argv);
    }
    if (argc >= 2 && !strcmp(argv[1], "recv")) {
        return cmd_recv(argc, argv);
    }
    if (argc >= 2 && !strcmp(argv[1], "disk")) {
        return probe_disk(argc, argv);
    }
    if (argc >= 2 && !strcmp(argv[1], "get")) {
        return probe_get(argc, argv);
    }
    fputs(usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
