/*
 * The script fuzz-port.c reads, for the seed generator (fuzz-seeds.c)
 * to write: one config byte, then ops, each an op byte and its
 * arguments (see fuzz-port.c for each op's).
 */
#ifndef FUZZ_PORT_H
#define FUZZ_PORT_H

/* The config byte. */
#define FUZZ_PORT_KEYED         0x01    /* every port has the VC key */
#define FUZZ_PORT_B_ACTIVE      0x02    /* B is not set INCOMING first */
/* bits 2-3: buffer-limit 2048, 8192, 65536 or 1 MiB */

/* The ports: the fuzzer's port bytes are taken modulo 3. */
enum { FUZZ_PORT_A, FUZZ_PORT_B, FUZZ_PORT_P };

enum {
    FUZZ_OP_EVENT,              /* port, event */
    FUZZ_OP_SEND,               /* port, u16 len, macs, n, n bytes */
    FUZZ_OP_PUMP,               /* rounds: deliver all that was sent */
    FUZZ_OP_DELIVER,            /* which and how: lost, again, changed */
    FUZZ_OP_RAW,                /* port, from, u16 len, bytes */
    FUZZ_OP_BUILT,              /* port, from, fields of a packet */
    FUZZ_OP_MIGRATE,            /* A's state into B or B's into A */
    FUZZ_OP_TIME,               /* u16 ms, then every timer fires */
    FUZZ_OP_GUEST,              /* port, can-receive / refuse / ready */
    FUZZ_OP_ROUTE,              /* port, set or delete */
    FUZZ_OP_LINK,               /* the next sends: full, failed, too big */
    FUZZ_OP_INFO,               /* port: query-limevi's snapshot */
    FUZZ_OP_KEY,                /* port: rollover, seal, end */
    FUZZ_OP_N,
};

/* Ops read per input at most: a long input cannot run for long. */
#define FUZZ_PORT_OPS_MAX 512

#endif /* FUZZ_PORT_H */
