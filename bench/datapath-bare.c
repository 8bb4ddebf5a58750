/*
 * datapath-bare: the least a TAP <-> UDP tunnel endpoint can do, as the
 * baseline bench/datapath.sh measures limevi-tap against.  The same
 * syscalls per frame as limevi-tap (one read and one sendmsg out, one
 * recvfrom and one write in) and a header of the same size, but no
 * library: no parsing, routing, sequence numbers or main loop.  A full
 * socket buffer is waited out, as limevi-tap's backlog does.
 *
 *   datapath-bare TAP LISTEN-IPV4 PORT PEER-IPV4 PORT HEADER-BYTES
 *
 * Prints "ready", forwards until SIGTERM or SIGINT, then prints
 * {"tx-frames":N,"rx-frames":N} and exits 0.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_MAX 65536
#define HEADER_MAX 276          /* LIMEVI_WIRE_HEADER_MAX */
#define BURST 64                /* as limevi-tap and the library */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    stop = 1;
}

static int tap_open(const char *name)
{
    struct ifreq ifr = { 0 };
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int parse_addr(const char *ip, const char *port,
                      struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(atoi(port));
    return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Waits for room as limevi-tap does (its backlog), rather than drop. */
static int send_waiting(int udp, const struct msghdr *msg)
{
    while (!stop) {
        struct pollfd out = { udp, POLLOUT, 0 };

        if (sendmsg(udp, msg, MSG_DONTWAIT) >= 0) {
            return 1;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
            return 0;
        }
        poll(&out, 1, 1);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static unsigned char frame[FRAME_MAX], packet[HEADER_MAX + FRAME_MAX];
    static unsigned char header[HEADER_MAX];
    struct sockaddr_in local, peer;
    struct sigaction sa = { .sa_handler = on_signal };
    unsigned long long tx = 0, rx = 0;
    size_t hlen;
    int tap, udp;

    if (argc != 7 || parse_addr(argv[2], argv[3], &local) < 0 ||
        parse_addr(argv[4], argv[5], &peer) < 0 ||
        (hlen = strtoul(argv[6], NULL, 10)) > HEADER_MAX) {
        fprintf(stderr, "usage: datapath-bare TAP LISTEN-IP PORT PEER-IP "
                "PORT HEADER-BYTES (IPv4, header <= %d)\n", HEADER_MAX);
        return 2;
    }
    tap = tap_open(argv[1]);
    udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tap < 0 || udp < 0 ||
        bind(udp, (struct sockaddr *)&local, sizeof(local)) < 0) {
        fprintf(stderr, "datapath-bare: setup: %s\n", strerror(errno));
        return 1;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("ready\n");
    fflush(stdout);

    while (!stop) {
        struct pollfd fds[2] = { { tap, POLLIN, 0 }, { udp, POLLIN, 0 } };

        if (poll(fds, 2, -1) < 0) {
            continue;           /* EINTR: the signal sets stop */
        }
        for (int i = 0; i < BURST && (fds[0].revents & POLLIN); i++) {
            ssize_t n = read(tap, frame, sizeof(frame));
            struct iovec iov[2] = { { header, hlen }, { frame, 0 } };
            struct msghdr msg = {
                .msg_name = &peer, .msg_namelen = sizeof(peer),
                .msg_iov = iov, .msg_iovlen = 2,
            };

            if (n <= 0) {
                break;
            }
            iov[1].iov_len = n;
            tx += send_waiting(udp, &msg);
        }
        for (int i = 0; i < BURST && (fds[1].revents & POLLIN); i++) {
            ssize_t n = recvfrom(udp, packet, sizeof(packet), MSG_DONTWAIT,
                                 NULL, NULL);

            if (n < 0) {
                break;
            }
            if ((size_t)n > hlen) {
                rx += write(tap, packet + hlen, n - hlen) >= 0;
            }
        }
    }
    printf("{\"tx-frames\":%llu,\"rx-frames\":%llu}\n", tx, rx);
    return 0;
}
