/*
 * probe get: an HTTP/1.0 download read at an even pace, for a client
 * whose every wait is the network's.  `curl --limit-rate` is no such
 * client: it reads whatever its socket holds (up to 100 reads of its
 * buffer, some 10 MB), then sleeps until its average is back under the
 * limit, so at 256 KiB/s its file grows in bursts of megabytes with
 * 20-40 s of nothing between, on loopback as on any network.  Here a
 * read is due when the bytes so far allow it, the receive buffer holds
 * some 100 ms of the pace, and the longest a due read waited is
 * reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe-get.h"

#define HEAD_MAX 8192
#define MSS 1460                /* an Ethernet LAN's, not loopback's 64 KiB */

static int get_fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "probe: get: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t due)
{
    struct timespec ts = { due / 1000000000, due % 1000000000 };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
           == EINTR) {
    }
}

/* recv() for at most until @deadline: its result, 0 at EOF, -1 with
 * errno ETIMEDOUT past the deadline. */
static ssize_t recv_until(int fd, char *buf, size_t len, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - mono_ns();
        ssize_t n;

        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (poll(&pfd, 1, (int)((left + 999999) / 1000000)) < 0 &&
            errno != EINTR) {
            return -1;
        }
        n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
            return n;
        }
    }
}

int probe_get(int argc, char **argv)
{
    const char *to = NULL, *path = "/", *out = NULL;
    long long rate = 0, timeout_ms = 30000, length = -1, rcvbuf_opt = 0;
    struct sockaddr_in dst;
    static char buf[HEAD_MAX + 65536];
    char host[INET_ADDRSTRLEN], *body;
    size_t have = 0;
    int64_t start, longest = 0;
    long long bytes = 0, status = 0;
    FILE *f;
    int fd, rcvbuf, complete, failed = 0;

    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (!val) {
            return get_fail("option '%s' needs a value", opt);
        }
        i++;
        if (!strcmp(opt, "--to")) {
            to = val;
        } else if (!strcmp(opt, "--path")) {
            path = val;
        } else if (!strcmp(opt, "--out")) {
            out = val;
        } else if (!strcmp(opt, "--rate")) {
            if (parse_num(val, 1024, 1LL << 32, &rate) < 0) {
                return get_fail("'--rate' must be 1024..4294967296 bytes/s,"
                                " got '%s'", val);
            }
        } else if (!strcmp(opt, "--rcvbuf")) {
            if (parse_num(val, 4096, 1 << 30, &rcvbuf_opt) < 0) {
                return get_fail("'--rcvbuf' must be 4096..1073741824, "
                                "got '%s'", val);
            }
        } else if (!strcmp(opt, "--timeout-ms")) {
            if (parse_num(val, 1, 3600000, &timeout_ms) < 0) {
                return get_fail("'--timeout-ms' must be 1..3600000, got "
                                "'%s'", val);
            }
        } else {
            return get_fail("unknown option '%s'", opt);
        }
    }
    if (!to || !rate || !out) {
        return get_fail("needs %s", "--to, --rate and --out");
    }
    if (parse_ipv4_endpoint(to, &dst) < 0) {
        return get_fail("'--to' expects IPv4:PORT, got '%s'", to);
    }
    inet_ntop(AF_INET, &dst.sin_addr, host, sizeof(host));
    f = fopen(out, "w");
    if (!f) {
        perror("probe: get: --out");
        return 1;
    }

    /*
     * Before connect(), so the window offered never grows past it.  The
     * sender's buffer hides a stall behind it too, and Linux sizes it by
     * the MSS: to a client at a local address (loopback's MSS, 64 KiB)
     * some 3-4 MB, 15 s of this pace.  Announcing an Ethernet MSS keeps
     * it to some 700 KB (measured on loopback), 3 s of 256 KiB/s.
     */
    rcvbuf = rcvbuf_opt ? (int)rcvbuf_opt : (int)(rate / 10 > 4096 ?
                                                  rate / 10 : 4096);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &(int){ MSS },
                   sizeof(int)) < 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
        perror("probe: get: connect");
        return 1;
    }
    {
        char req[1024];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n"
                         "\r\n", path, host);

        if (n <= 0 || n >= (int)sizeof(req) ||
            send(fd, req, n, MSG_NOSIGNAL) != n) {
            return get_fail("could not send the request for '%s'", path);
        }
    }

    /* The head, whole; what follows it in @buf is the body's start. */
    for (;;) {
        ssize_t n;

        buf[have] = '\0';
        body = strstr(buf, "\r\n\r\n");
        if (body) {
            break;
        }
        if (have == HEAD_MAX) {
            return get_fail("no end of the HTTP head in %s", "8 KiB");
        }
        n = recv_until(fd, buf + have, HEAD_MAX - have,
                       mono_ns() + timeout_ms * 1000000);
        if (n <= 0) {
            return get_fail("no HTTP head: %s",
                            n ? strerror(errno) : "connection closed");
        }
        have += n;
    }
    body += 4;
    if (sscanf(buf, "HTTP/%*d.%*d %lld", &status) != 1 || status != 200) {
        *strchr(buf, '\r') = '\0';
        return get_fail("not 200 OK: '%s'", buf);
    }
    for (char *l = strstr(buf, "\r\n"); l && l + 2 < body;
         l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, "content-length:", 15)) {
            length = strtoll(l + 17, NULL, 10);
        }
    }
    bytes = have - (body - buf);
    fwrite(body, 1, bytes, f);

    start = mono_ns();
    for (;;) {
        /* An absolute schedule: this read is due once the pace allows the
         * bytes so far; how long it then waits is the network's. */
        int64_t due = start + (int64_t)(bytes * 1000000000.0 / rate);
        int64_t waited;
        size_t chunk = rate / 20 < 65536 ? rate / 20 : 65536;
        ssize_t n;

        sleep_until(due);
        due = mono_ns();
        n = recv_until(fd, buf, chunk, due + timeout_ms * 1000000);
        waited = mono_ns() - due;
        if (waited > longest) {
            longest = waited;
        }
        if (n < 0) {
            fprintf(stderr, "probe: get: after %lld bytes: %s\n", bytes,
                    strerror(errno));
            failed = 1;
            break;
        }
        if (n == 0) {
            break;
        }
        if (fwrite(buf, 1, n, f) != (size_t)n || fflush(f)) {
            perror("probe: get: --out");
            failed = 1;
            break;
        }
        bytes += n;
    }
    close(fd);
    fclose(f);
    complete = !failed && (length < 0 || bytes == length);
    printf("{\"bytes\":%lld,\"content_length\":%lld,\"complete\":%s,"
           "\"duration_ms\":%.3f,\"longest_wait_ms\":%.3f}\n", bytes, length,
           complete ? "true" : "false", (mono_ns() - start) / 1e6,
           longest / 1e6);
    return complete ? 0 : 1;
}
