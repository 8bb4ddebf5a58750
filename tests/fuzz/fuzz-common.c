/*
 * The libFuzzer targets' shared harness (fuzz-common.h).
 *
 * Nothing a target does reaches the network: the fuzzer writes relay
 * endpoints, route endpoints and source addresses, so this file defines
 * sendmsg() (the only call liblimevi sends with, udp.c) for the whole
 * program and keeps what would have left; and names in a state never
 * reach DNS, as a resolver that resolves nothing is the default.
 */
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "fuzz-common.h"

/* ---- The input ---- */

guint8 fuzz_u8(FuzzInput *in)
{
    if (!in->left) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

/* Big-endian; one read per statement, as C leaves the order of the
 * operands of | unspecified. */
guint16 fuzz_u16(FuzzInput *in)
{
    guint16 hi = fuzz_u8(in);

    return hi << 8 | fuzz_u8(in);
}

guint32 fuzz_u32(FuzzInput *in)
{
    guint32 hi = fuzz_u16(in);

    return hi << 16 | fuzz_u16(in);
}

guint64 fuzz_u64(FuzzInput *in)
{
    guint64 hi = fuzz_u32(in);

    return hi << 32 | fuzz_u32(in);
}

void fuzz_bytes(FuzzInput *in, guint8 *buf, gsize n)
{
    gsize have = MIN(n, in->left);

    memcpy(buf, in->p, have);
    memset(buf + have, 0, n - have);
    in->p += have;
    in->left -= have;
}

/* ---- The network ---- */

static FuzzLinkMode link_mode;
static guint link_sends;
static FuzzDatagram *sent[FUZZ_SENT_MAX];
static guint n_sent;
static guint64 sent_total;

void (*fuzz_record)(const char *kind, const guint8 *data, gsize len);

void fuzz_link_set(FuzzLinkMode mode, guint sends)
{
    link_mode = mode;
    link_sends = sends;
}

guint fuzz_sent_count(void)
{
    return n_sent;
}

FuzzDatagram *fuzz_sent_get(guint i)
{
    return i < n_sent ? sent[i] : NULL;
}

FuzzDatagram *fuzz_sent_take(guint i)
{
    FuzzDatagram *d;

    if (i >= n_sent) {
        return NULL;
    }
    d = sent[i];
    memmove(sent + i, sent + i + 1, (n_sent - i - 1) * sizeof(sent[0]));
    n_sent--;
    return d;
}

void fuzz_datagram_free(FuzzDatagram *d)
{
    if (d) {
        g_free(d->data);
        g_free(d);
    }
}

void fuzz_sent_clear(void)
{
    while (n_sent) {
        fuzz_datagram_free(fuzz_sent_take(n_sent - 1));
    }
}

guint64 fuzz_sent_total(void)
{
    return sent_total;
}

/* Replaces libc's: records the datagram, reading every byte of it (so a
 * sanitizer sees a send of freed or uninitialised memory), and answers
 * as the fuzzer set the link. */
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    FuzzDatagram *d;
    gsize len = 0;
    guint8 *p;

    if (link_sends) {
        static const int errs[] = {
            [FUZZ_LINK_FULL] = EAGAIN,
            [FUZZ_LINK_FAILED] = EPERM,
            [FUZZ_LINK_TOO_BIG] = EMSGSIZE,
        };

        link_sends--;
        if (link_mode != FUZZ_LINK_OK) {
            errno = errs[link_mode];
            return -1;
        }
    }
    for (gsize i = 0; i < msg->msg_iovlen; i++) {
        len += msg->msg_iov[i].iov_len;
    }
    g_assert_cmpuint(len, <=, 65535 - 8);
    g_assert_cmpuint(msg->msg_namelen, <=, sizeof(d->to));
    d = g_new0(FuzzDatagram, 1);
    d->data = p = g_malloc(MAX(len, 1));
    d->len = len;
    for (gsize i = 0; i < msg->msg_iovlen; i++) {
        memcpy(p, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
        p += msg->msg_iov[i].iov_len;
    }
    memcpy(&d->to, msg->msg_name, msg->msg_namelen);
    d->to_len = msg->msg_namelen;
    d->from_len = sizeof(d->from);
    if (getsockname(fd, (struct sockaddr *)&d->from, &d->from_len) < 0) {
        d->from_len = 0;
    }
    if (n_sent == FUZZ_SENT_MAX) {
        fuzz_datagram_free(fuzz_sent_take(0));
    }
    sent[n_sent++] = d;
    sent_total++;
    if (fuzz_record) {
        fuzz_record("wire", d->data, d->len);
    }
    return len;
}

/* Nothing here may look a name up: the resolver below answers first. */
int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    g_error("fuzzing: getaddrinfo(%s) would leave the process", node);
}

/* ---- A resolver that resolves no name ---- */

typedef struct {
    GResolver parent;
} FuzzResolver;

typedef struct {
    GResolverClass parent_class;
} FuzzResolverClass;

GType fuzz_resolver_get_type(void);
G_DEFINE_TYPE(FuzzResolver, fuzz_resolver, G_TYPE_RESOLVER)

static GList *fuzz_lookup_by_name(GResolver *resolver, const char *host,
                                  GCancellable *cancellable, GError **error)
{
    g_set_error(error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                "fuzzing: '%s' is not looked up", host);
    return NULL;
}

static GList *fuzz_lookup_by_name_with_flags(GResolver *resolver,
                                             const char *host,
                                             GResolverNameLookupFlags flags,
                                             GCancellable *cancellable,
                                             GError **error)
{
    return fuzz_lookup_by_name(resolver, host, cancellable, error);
}

static void fuzz_resolver_class_init(FuzzResolverClass *klass)
{
    GResolverClass *resolver_class = G_RESOLVER_CLASS(klass);

    resolver_class->lookup_by_name = fuzz_lookup_by_name;
    resolver_class->lookup_by_name_with_flags =
        fuzz_lookup_by_name_with_flags;
}

static void fuzz_resolver_init(FuzzResolver *resolver)
{
}

/* Warnings and below are dropped (they would only slow the fuzzer); a
 * critical is a g_return_if_fail() that remote input reached: a bug. */
static GLogWriterOutput fuzz_log_writer(GLogLevelFlags level,
                                        const GLogField *fields,
                                        gsize n_fields, gpointer data)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        g_log_writer_standard_streams(level, fields, n_fields, data);
        abort();
    }
    return G_LOG_WRITER_HANDLED;
}

void fuzz_init(void)
{
    static gboolean done;
    g_autoptr(GResolver) resolver = NULL;

    if (done) {
        return;
    }
    done = TRUE;
    g_log_set_writer_func(fuzz_log_writer, NULL, NULL);
    resolver = g_object_new(fuzz_resolver_get_type(), NULL);
    g_resolver_set_default(resolver);
}

/* ---- The guest ---- */

static gboolean guest_deliver(gpointer opaque, const guint8 *frame,
                              gsize len)
{
    FuzzGuest *guest = opaque;

    if (guest->refuse) {
        guest->refuse--;
        return FALSE;
    }
    g_assert_cmpuint(len, >=, LIMEVI_WIRE_FRAME_MIN);
    g_assert_cmpuint(len, <=, LIMEVI_WIRE_FRAME_MAX);
    /* Every byte read: ASan checks the frame is all there. */
    memcpy(guest->last, frame, len);
    guest->last_len = len;
    guest->delivered++;
    return TRUE;
}

static gboolean guest_can_receive(gpointer opaque)
{
    return ((FuzzGuest *)opaque)->can_receive;
}

static gint64 guest_now(gpointer opaque)
{
    return ((FuzzGuest *)opaque)->now;
}

LimeviPortOps fuzz_guest_ops(void)
{
    LimeviPortOps ops = {
        .deliver = guest_deliver,
        .can_receive = guest_can_receive,
        .now = guest_now,
    };

    return ops;
}

void fuzz_fire_timers(LimeviPort *port, GMainContext *context)
{
    GSource *timers[] = {
        port->tick, port->rx_tick, port->guest_pace.tick,
        port->flush_pace.tick,
    };

    for (guint i = 0; i < G_N_ELEMENTS(timers); i++) {
        if (timers[i] && !g_source_is_destroyed(timers[i])) {
            /* A timeout source is due at its ready time: 0 is overdue. */
            g_source_set_ready_time(timers[i], 0);
        }
    }
    /* Bounded: a timer that re-arms waits for the next call. */
    for (int i = 0; i < 4 && g_main_context_iteration(context, FALSE); i++) {
    }
}
