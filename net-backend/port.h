/*
 * Inside a LimeviPort: its structure and its states, shared by the
 * modules that each handle one flow (see docs/design.md for the graph):
 *   port.c     creation, routes, reports, the state machine
 *   tx.c       guest -> tunnel           guest.c  frames -> the guest
 *   rx.c       tunnel -> guest           control.c  control messages
 *   state.c    the state that travels with a migration
 * and what the library's own tests and fuzzer reach.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_PORT_H
#define LIMEVI_PORT_H

#include "auth.h"
#include "buffer.h"
#include "crypto.h"
#include "limevi.h"
#include "mac.h"
#include "pace.h"
#include "route.h"
#include "udp.h"
#include "wire.h"

/* How often unacknowledged control messages are sent again, and for how
 * long: a WAN may lose several in a row. */
#define LIMEVI_CONTROL_RETRY_MS     50
#define LIMEVI_CONTROL_ATTEMPTS     200
/* How long a gap in a sender's sequence holds later frames back after a
 * migration before they are delivered anyway. */
#define LIMEVI_GAP_TIMEOUT_MS       500
/* How long a frame ahead of a gap waits for it out of a migration: the
 * underlay may reorder by a few milliseconds, and waiting on a loss
 * delays what follows it. */
#define LIMEVI_REORDER_MS           20
/* ... and how far ahead: further is a loss or a restarted sender. */
#define LIMEVI_REORDER_SPAN         1024
/* How long the destination keeps resequencing after its peers synced. */
#define LIMEVI_RESEQ_GRACE_MS       2000

/*
 * The port's life.  LimeviPortState is what reports show; PORT_SAVED is
 * reported as "frozen".
 */
typedef enum {
    PORT_ACTIVE,                /* the guest runs here; frames flow */
    PORT_MIGRATING,             /* source: pre-copy runs; frames flow */
    PORT_FROZEN,                /* source: guest stopped for switchover;
                                 * frames for it are held */
    PORT_SAVED,                 /* source: the state left with what was
                                 * held; new frames are queued for the
                                 * destination */
    PORT_FORWARDING,            /* source: the VM runs at the destination */
    PORT_INCOMING,              /* destination: waiting for the VM */
    PORT_N_STATES,
} PortState;

/* Events of the library's own, after the embedder's LimeviPortEvent. */
enum {
    PORT_EVENT_STATE_SAVED = LIMEVI_EVENT_GUEST_RUNNING + 1,
    PORT_EVENT_DEST_ANNOUNCED,  /* our VM's new host announced itself */
    PORT_N_EVENTS,
};

/* tx.c: a frame in the socket's batch. */
typedef struct {
    LimeviRoute *route;
    const guint8 *frame;        /* the embedder's, valid until _end() */
    gsize len;
    guint64 seq;                /* the number it goes out with */
    gboolean unicast;
} LimeviTxBatched;

struct LimeviPort {
    PortState state;
    char *vm;
    char *vc;
    char *lan;
    gsize vm_len;               /* compared with names in every packet */
    gsize vc_len;
    gsize lan_len;
    char *listen;               /* the bound address, for reports */
    guint32 epoch;              /* ours, carried in every packet we send */
    guint64 buffer_limit;
    GMainContext *context;

    LimeviPortOps ops;
    gpointer opaque;

    LimeviUdp *udp;
    LimeviRouteTable *routes;
    LimeviMacTable *macs;
    LimeviBuffer *held;         /* frames for the guest, oldest first */
    gboolean guest_blocked;     /* deliver() said no: wait for guest_ready */
    LimeviPace guest_pace;      /* guest.c: frames/s into the guest */
    LimeviPace flush_pace;      /* tx.c: bytes/s of what waited */
    LimeviStats stats;

    /* Source side: datagrams for our VM once its state left. */
    LimeviBuffer *forward;
    GSocketAddress *forward_to; /* the destination, once it announced */
    gboolean forward_answer_owed;   /* its UPDATE is answered once
                                     * @forward is empty ... */
    guint32 forward_answer_epoch;   /* ... at this epoch */

    /* Destination side (rx.c, control.c). */
    GSocketAddress *source_addr;    /* where the source port is reached */
    GHashTable *rx;             /* sender vm -> per-sender receive state */
    gboolean reseq;             /* deliver in sequence, drop duplicates */
    gint64 reseq_until;         /* 0: until peers synced */
    gboolean source_owes;       /* the source has not answered our UPDATE:
                                 * gaps may still be filled by it */
    GSource *rx_tick;           /* gap timeouts, the end of resequencing */
    gboolean peers_synced;
    gboolean announcing;        /* UPDATEs out, not all acknowledged */
    guint announced;            /* how many peers were told */

    GPtrArray *pending;         /* control.c: messages sent until answered */
    guint drop_control;         /* test seam: UPDATEs and ACKs to lose */
    GSource *tick;              /* control.c: retransmissions */

    guint8 tx_header[LIMEVI_WIRE_HEADER_MAX];

    /* tx.c: frames queued in the socket's batch, between
     * limevi_port_send_batch_begin() and _end(), in the batch's order. */
    gboolean tx_batching;
    guint tx_batch_len;
    LimeviTxBatched tx_batch[LIMEVI_UDP_BATCH];

    /* With a key (rx.c, udp.c): NULL both, packets go unsealed. */
    LimeviCrypto *crypto;
    LimeviCryptoSender *self;   /* what we seal with */
    LimeviAuth *auth;           /* the members' keys and replay windows */
    guint8 *rx_plain;           /* an opened payload */
};

/*
 * Handles one datagram as if the port's socket had just received it from
 * the native socket address @from (NULL: unknown, as for crafted packets
 * in tests: control messages then get no answer).
 */
void limevi_port_receive_from(LimeviPort *port, const guint8 *data,
                              gsize len, gconstpointer from, gsize from_len);
void limevi_port_receive(LimeviPort *port, const guint8 *data, gsize len);

/* The embedder hears of a route change; inline so that every module may
 * tell it without calling up into port.c. */
static inline void limevi_port_route_changed(LimeviPort *port,
                                             const LimeviRoute *route,
                                             gboolean removed)
{
    LimeviRouteInfo info = {
        .vm = route->vm,
        .endpoint = route->endpoint,
        .status = removed ? LIMEVI_ROUTE_INVALID : route->status,
        .vc = route->vc,
        .lan = route->lan,
        .epoch = route->epoch,
    };

    if (port->ops.route_changed) {
        port->ops.route_changed(port->opaque, &info, removed);
    }
}

#endif /* LIMEVI_PORT_H */
