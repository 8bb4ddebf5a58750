/*
 * Inside a LimeviPort: its structure, shared by port.c (configuration and
 * the per-frame paths) and migrate.c (migration, control messages,
 * resequencing), and what the library's own tests and fuzzer reach.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_PORT_H
#define LIMEVI_PORT_H

#include "buffer.h"
#include "limevi.h"
#include "mac.h"
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
/* How long the destination keeps resequencing after its peers synced. */
#define LIMEVI_RESEQ_GRACE_MS       2000

/* How many runs of sequence numbers a sender's resequencing queue
 * remembers having dropped, so that the guest does not wait for them. */
#define LIMEVI_RX_DROPPED_RUNS      16

/* The migration state's GVariant type: version, epoch, the source's
 * endpoint, routes, receive sequence, learnt MACs, held frames. */
#define LIMEVI_STATE_TYPE           "(uusa(ssssuutay)a(st)a(ays)ay)"

/*
 * A control message sent until answered: our VM's INVALIDATE or UPDATE
 * to a peer or to our VM's other host, or a RELAY of a peer's
 * announcement to our VM's new host.
 */
typedef struct {
    char *peer;                 /* the VM it is for; "" for our VM's other
                                 * host */
    GSocketAddress *addr;       /* NULL for a RELAY: it goes to forward_to */
    guint8 op;
    guint32 epoch;
    guint attempts;             /* sent so often; 0: not yet */
    /* RELAY only: the moving VM, its announcement's op, and where that
     * came from (written in, and answered there). */
    char *about;
    guint8 relayed_op;
    GSocketAddress *endpoint;
} LimeviPending;

/* Sequence numbers first..last, dropped for want of room. */
typedef struct {
    guint64 first;
    guint64 last;
} LimeviSeqRun;

/* What the receive side knows of one sender. */
typedef struct {
    guint64 next;               /* the sequence number expected next */
    GQueue held;                /* LimeviHeldFrame, by seq: ahead of a gap */
    guint64 held_bytes;         /* frame bytes in @held: buffer_limit at most */
    gint64 gap_since;           /* when the oldest gap opened (us) */
    LimeviSeqRun dropped[LIMEVI_RX_DROPPED_RUNS];   /* by first */
    guint n_dropped;
} LimeviRxSender;

typedef struct {
    guint64 seq;
    GBytes *frame;
} LimeviHeldFrame;

struct LimeviPort {
    LimeviPortState state;
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
    LimeviStats stats;

    /* Migration, source side. */
    gboolean saved;             /* save() ran: new frames are forwarded */
    GQueue forward;             /* GBytes datagrams for the destination */
    guint64 forward_bytes;
    GSocketAddress *forward_to; /* the destination, once it announced */

    /* Migration, destination side. */
    GSocketAddress *source_addr;    /* where the source port is reached */
    GHashTable *rx;             /* sender vm -> LimeviRxSender */
    gboolean reseq;             /* deliver in sequence, drop duplicates */
    gint64 reseq_until;         /* 0: until peers synced */
    gboolean peers_synced;
    gboolean announcing;        /* UPDATEs out, not all acknowledged */
    guint announced;            /* how many peers were told */

    GPtrArray *pending;         /* LimeviPending */
    guint drop_control;         /* test-only: UPDATEs and ACKs to lose */
    GSource *tick;              /* retransmissions and gap timeouts */

    guint8 tx_header[LIMEVI_WIRE_HEADER_MAX];
};

/*
 * Handles one datagram as if the port's socket had just received it from
 * the native socket address @from (NULL: unknown, as for crafted packets
 * in tests: control messages then get no answer).
 */
void limevi_port_receive_from(LimeviPort *port, const guint8 *data,
                              gsize len, gconstpointer from, gsize from_len);
void limevi_port_receive(LimeviPort *port, const guint8 *data, gsize len);

/* port.c, for migrate.c */
void limevi_port_deliver(LimeviPort *port, const guint8 *frame, gsize len);
/* A frame for the guest was dropped for want of room outside the guest's
 * buffer: counted with that buffer's drops, and the embedder is told. */
void limevi_port_drop_for_guest(LimeviPort *port);
void limevi_port_send_to(LimeviPort *port, LimeviRoute *route,
                         const guint8 *frame, gsize len, gboolean unicast);
void limevi_port_set_state(LimeviPort *port, LimeviPortState state);
void limevi_port_route_changed(LimeviPort *port, const LimeviRoute *route,
                               gboolean removed);

/* migrate.c, for port.c */
void limevi_migrate_init(LimeviPort *port);
void limevi_migrate_cleanup(LimeviPort *port);
/* A DATA packet for us: delivered, held or forwarded as the state says. */
void limevi_migrate_data(LimeviPort *port, const LimeviWirePacket *pkt,
                         const guint8 *data, gsize len);
void limevi_migrate_control(LimeviPort *port, const LimeviWirePacket *pkt,
                            GSocketAddress *from);
/* Sends what was held for @route's peer, now that it is valid. */
void limevi_migrate_flush_held_for(LimeviPort *port, LimeviRoute *route);
/* Holds a guest frame for a peer whose route is invalid. */
void limevi_migrate_hold_for(LimeviPort *port, LimeviRoute *route,
                             const guint8 *frame, gsize len);

#endif /* LIMEVI_PORT_H */
