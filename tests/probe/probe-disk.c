/*
 * probe disk: writes block after block of a known pattern to a disk
 * (O_DIRECT, so through to the device and not the guest's page cache),
 * paced, printing a running checksum; then reads every block it wrote
 * back from the device and checks it.  Run in a guest that migrates
 * meanwhile, the check reads the destination's disk: every write,
 * before the move and during it, must be there.
 *
 * Write k goes to block k mod BLOCKS; a block holds its write's number,
 * its block number and bytes drawn from k, so a block that holds another
 * write's data, or none, is found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "probe-disk.h"

#define BLOCK 4096
#define MAGIC 0x4c564b44u       /* "LVKD" */

static int disk_fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "probe: disk: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

/* Write @k's content: magic, k, its block, then xorshift64 from k. */
static void fill(uint8_t *buf, uint64_t k, uint64_t block)
{
    uint64_t x = k * 0x9e3779b97f4a7c15ull + 1;
    uint32_t magic = MAGIC;

    memcpy(buf, &magic, 4);
    memcpy(buf + 4, &k, 8);
    memcpy(buf + 12, &block, 8);
    for (size_t i = 20; i + 8 <= BLOCK; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
}

/* FNV-1a over what was written, in order. */
static uint64_t checksum(uint64_t sum, const uint8_t *buf)
{
    for (size_t i = 0; i < BLOCK; i++) {
        sum = (sum ^ buf[i]) * 0x100000001b3ull;
    }
    return sum;
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The device appears once its driver probed it, after init started us. */
static int open_device(const char *dev)
{
    for (int i = 0; i < 100; i++) {
        int fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);

        if (fd >= 0 || errno != ENOENT) {
            return fd;
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* Reads every block written and compares it with its last write. */
static long long verify(int fd, const char *id, long long blocks,
                        long long count, uint8_t *want, uint8_t *got)
{
    long long bad = 0, first_bad = -1, checked = 0;

    for (long long b = 0; b < blocks && b < count; b++) {
        /* The last write of block b. */
        long long k = b + (count - 1 - b) / blocks * blocks;

        if (pread(fd, got, BLOCK, b * BLOCK) != BLOCK) {
            perror("probe: disk: read");
            return -1;
        }
        fill(want, k, b);
        checked++;
        if (memcmp(want, got, BLOCK)) {
            if (first_bad < 0) {
                first_bad = b;
            }
            bad++;
        }
    }
    printf("{\"disk\":\"%s\",\"checked\":%lld,\"bad\":%lld,"
           "\"first_bad\":%lld}\n", id, checked, bad, first_bad);
    return bad;
}

int probe_disk(int argc, char **argv)
{
    const char *dev = NULL, *id = "disk";
    long long blocks = 0, count = 0, rate = 0, every = 1000;
    uint8_t *buf, *back;
    uint64_t sum = 0xcbf29ce484222325ull;
    int64_t start, period;
    long long bad;
    int fd;

    for (int i = 2; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (!val) {
            return disk_fail("option '%s' needs a value", opt);
        }
        if (!strcmp(opt, "--dev")) {
            dev = val;
        } else if (!strcmp(opt, "--id")) {
            id = val;
        } else if (!strcmp(opt, "--blocks")) {
            if (parse_num(val, 1, 1LL << 30, &blocks) < 0) {
                return disk_fail("'--blocks' must be 1..2^30, got '%s'", val);
            }
        } else if (!strcmp(opt, "--count")) {
            if (parse_num(val, 1, 1LL << 40, &count) < 0) {
                return disk_fail("'--count' must be 1..2^40, got '%s'", val);
            }
        } else if (!strcmp(opt, "--rate")) {
            if (parse_num(val, 1, 1000000, &rate) < 0) {
                return disk_fail("'--rate' must be 1..1000000, got '%s'",
                                 val);
            }
        } else if (!strcmp(opt, "--every")) {
            if (parse_num(val, 1, 1LL << 40, &every) < 0) {
                return disk_fail("'--every' must be 1..2^40, got '%s'", val);
            }
        } else {
            return disk_fail("unknown option '%s'", opt);
        }
    }
    if (!dev || !blocks || !count || !rate) {
        return disk_fail("needs %s", "--dev, --blocks, --count and --rate");
    }
    fd = open_device(dev);
    if (fd < 0) {
        return disk_fail("cannot open %s", dev);
    }
    if (posix_memalign((void **)&buf, BLOCK, BLOCK) ||
        posix_memalign((void **)&back, BLOCK, BLOCK)) {
        return disk_fail("%s", "out of memory");
    }
    period = 1000000000LL / rate;
    start = mono_ns();
    for (long long k = 0; k < count; k++) {
        int64_t due = start + k * period;
        struct timespec ts = { due / 1000000000, due % 1000000000 };

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
               == EINTR) {
        }
        fill(buf, k, k % blocks);
        if (pwrite(fd, buf, BLOCK, k % blocks * BLOCK) != BLOCK) {
            perror("probe: disk: write");
            return 1;
        }
        sum = checksum(sum, buf);
        if ((k + 1) % every == 0) {
            printf("{\"disk\":\"%s\",\"written\":%lld,\"checksum\":\"%016"
                   PRIx64 "\"}\n", id, k + 1, sum);
        }
    }
    if (fdatasync(fd) < 0) {
        perror("probe: disk: fdatasync");
        return 1;
    }
    printf("{\"disk\":\"%s\",\"written\":%lld,\"checksum\":\"%016" PRIx64
           "\",\"duration_ms\":%.3f}\n", id, count, sum,
           (mono_ns() - start) / 1e6);
    bad = verify(fd, id, blocks, count, buf, back);
    close(fd);
    return bad ? 1 : 0;
}
