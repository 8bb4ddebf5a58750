/*
 * What the libFuzzer targets share: a network that never leaves the
 * process (sendmsg() is replaced by a recorder), a resolver that resolves
 * nothing, a byte reader over the fuzzer's input, and a fake guest with
 * a clock the input steps.
 *
 * The same targets build without libFuzzer too, with fuzz-replay.c as
 * main(), so the normal build replays the checked-in corpus.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <sys/socket.h>

#include <gio/gio.h>

#include "port.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* Once per process: the resolver, quiet logs.  Every target calls it
 * first on every input (it returns at once after the first). */
void fuzz_init(void);

/* ---- The input ---- */

typedef struct {
    const guint8 *p;
    gsize left;
} FuzzInput;

/* Each reads what is left, and 0 (or nothing) once the input ends. */
guint8 fuzz_u8(FuzzInput *in);
guint16 fuzz_u16(FuzzInput *in);
guint32 fuzz_u32(FuzzInput *in);
guint64 fuzz_u64(FuzzInput *in);
/* Copies up to @n bytes into @buf, zero-filling what the input lacks. */
void fuzz_bytes(FuzzInput *in, guint8 *buf, gsize n);

/* ---- The network ---- */

/* What the next sends do, as the fuzzer says: go (to the recorder), find
 * the link full (EAGAIN), fail (EPERM) or be too big (EMSGSIZE). */
typedef enum {
    FUZZ_LINK_OK,
    FUZZ_LINK_FULL,
    FUZZ_LINK_FAILED,
    FUZZ_LINK_TOO_BIG,
} FuzzLinkMode;

void fuzz_link_set(FuzzLinkMode mode, guint sends);

/* A datagram a port sent, as it would have left. */
typedef struct {
    struct sockaddr_storage from;   /* the sender's bound address */
    socklen_t from_len;
    struct sockaddr_storage to;
    socklen_t to_len;
    gsize len;
    guint8 *data;
} FuzzDatagram;

/* The recorder keeps the latest FUZZ_SENT_MAX datagrams sent; older
 * ones are dropped, as a lossy link would. */
#define FUZZ_SENT_MAX 32
guint fuzz_sent_count(void);
FuzzDatagram *fuzz_sent_get(guint i);
/* Removes datagram @i, which the caller then owns. */
FuzzDatagram *fuzz_sent_take(guint i);
void fuzz_datagram_free(FuzzDatagram *d);
void fuzz_sent_clear(void);
guint64 fuzz_sent_total(void);

/* The seed generator's tap (fuzz-seeds.c), NULL when fuzzing: every
 * datagram sent ("wire") and every state saved ("state") as it is. */
extern void (*fuzz_record)(const char *kind, const guint8 *data, gsize len);

/* ---- The guest ---- */

typedef struct {
    LimeviPort *port;
    gboolean can_receive;
    guint refuse;               /* deliver() says no this many times */
    guint64 delivered;
    guint8 last[LIMEVI_WIRE_FRAME_MAX];
    gsize last_len;
    gint64 now;                 /* the port's clock, microseconds */
} FuzzGuest;

LimeviPortOps fuzz_guest_ops(void);

/* Fires every timer the port has armed, whatever the wall clock says,
 * and runs what is ready on @context without blocking. */
void fuzz_fire_timers(LimeviPort *port, GMainContext *context);

#endif /* FUZZ_COMMON_H */
