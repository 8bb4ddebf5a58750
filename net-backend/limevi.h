/*
 * liblimevi public API: a virtual-cluster port that carries a guest's
 * Ethernet frames over UDP tunnels to the other members of its VC and LAN.
 * Embedded like libslirp: the embedder supplies callbacks, the library has
 * no main loop of its own and attaches its sources to a GMainContext.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_H
#define LIMEVI_H

#include <glib.h>

G_BEGIN_DECLS

#define LIMEVI_VERSION_STRING "0.1.0"

#define LIMEVI_ERROR limevi_error_quark()
GQuark limevi_error_quark(void);

typedef enum {
    LIMEVI_ERROR_INVALID,       /* a value is malformed or out of range */
    LIMEVI_ERROR_ENDPOINT,      /* an endpoint cannot be parsed or resolved */
    LIMEVI_ERROR_BIND,          /* the listen address cannot be bound */
    LIMEVI_ERROR_DUPLICATE,     /* the route already exists */
    LIMEVI_ERROR_NOT_FOUND,     /* no such route */
} LimeviError;

/* Names (vm, vc, lan) are 1..LIMEVI_NAME_MAX bytes of [A-Za-z0-9_.-]. */
#define LIMEVI_NAME_MAX 63

/* The most peers (routes) a port holds, and so the most senders it keeps
 * receive state and keys for: nothing a remote sends adds one. */
#define LIMEVI_PEERS_MAX 4096

#define LIMEVI_BUFFER_LIMIT_DEFAULT (8 * 1024 * 1024)
#define LIMEVI_BUFFER_LIMIT_MIN     2048
#define LIMEVI_BUFFER_LIMIT_MAX     (1024ULL * 1024 * 1024)

/*
 * Pacing (docs/migration.md, "Pacing what waited").  Frames that waited
 * (held for a moving peer, forwarded by the source, refused by a full
 * link) go at most at flush-rate bytes per second, or twice the rate the
 * port's own traffic had if that is more; the rate halves each time the
 * link refuses a send.  Frames held for the guest reach it at most at
 * guest-rate frames per second (or twice its everyday rate), in bursts
 * of at most LIMEVI_GUEST_BURST, which a default socket buffer
 * (rmem_default 212992) takes; after a switchover from
 * LIMEVI_GUEST_RATE_START, doubling every 50 ms, as a guest just resumed
 * on a new host is slow at first.
 */
#define LIMEVI_FLUSH_RATE_DEFAULT   (50ULL * 1000 * 1000 / 8)
#define LIMEVI_FLUSH_RATE_MIN       (1000ULL * 1000 / 8)
#define LIMEVI_FLUSH_RATE_MAX       (100ULL * 1000 * 1000 * 1000 / 8)
#define LIMEVI_FLUSH_BURST          (16 * 1024)
#define LIMEVI_GUEST_RATE_DEFAULT   3000
#define LIMEVI_GUEST_RATE_MIN       100
#define LIMEVI_GUEST_RATE_MAX       10000000
#define LIMEVI_GUEST_BURST          16
#define LIMEVI_GUEST_RATE_START     500

typedef enum {
    LIMEVI_ROUTE_VALID,
    LIMEVI_ROUTE_INVALID,
} LimeviRouteStatus;

/* The port's life (DESIGN.md section 3). */
typedef enum {
    LIMEVI_PORT_ACTIVE,         /* frames flow */
    LIMEVI_PORT_MIGRATING,      /* source: pre-copy runs; frames flow */
    LIMEVI_PORT_FROZEN,         /* source: guest stopped for switchover */
    LIMEVI_PORT_FORWARDING,     /* source: the VM runs at the destination */
    LIMEVI_PORT_INCOMING,       /* destination: waiting for the VM */
} LimeviPortState;

typedef struct {
    const char *vm;
    const char *endpoint;       /* "HOST:PORT", IPv4, [IPv6] or a name */
    const char *lan;            /* NULL: the port's own LAN */
} LimeviRouteConfig;

typedef struct {
    const char *vm;
    const char *vc;
    const char *lan;
    const char *listen;         /* "HOST:PORT" to bind the UDP socket to */
    const LimeviRouteConfig *routes;
    guint n_routes;
    guint64 buffer_limit;       /* bytes; 0 selects the default */
    GMainContext *context;      /* NULL: the thread-default context */
    guint mac_ageing;           /* seconds a learned MAC is kept; 0: 300 */
    /* Never send a datagram in IP fragments: one over the path MTU fails
     * and counts in tx_too_big (docs/tap.md, --path-mtu). */
    gboolean no_fragment;
    /* Send each batched datagram on its own, without UDP_SEGMENT
     * (udp-gso.c): for comparing, or a path that mishandles it. */
    gboolean no_udp_gso;
    guint64 flush_rate;         /* bytes/s; 0: LIMEVI_FLUSH_RATE_DEFAULT */
    guint guest_rate;           /* frames/s; 0: LIMEVI_GUEST_RATE_DEFAULT */
    /*
     * The VC's key: 32 raw bytes or 64 hex digits (a newline may follow).
     * Every packet is then sealed and every packet received must open
     * with it (docs/security.md).  NULL: packets go unauthenticated,
     * which a port listening on anything but loopback refuses unless
     * @insecure.
     */
    const guint8 *key;
    gsize key_len;
    gboolean insecure;
    /* The options as the embedder's user types them, for that refusal
     * ("key-secret", "insecure=on"); NULL: "'key'", "'insecure'". */
    const char *key_option;
    const char *insecure_option;
    /* Test seam, never set in production: this many outgoing UPDATE and
     * ACK messages are lost on purpose, to show that retransmission
     * recovers from a lossy WAN. */
    guint test_drop_control;
} LimeviPortConfig;

/* One row of the routing table (DESIGN.md section 2). */
typedef struct {
    char *vm;
    char *endpoint;             /* "HOST:PORT" as last resolved */
    LimeviRouteStatus status;
    char *vc;
    char *lan;
    guint32 epoch;
} LimeviRouteInfo;

typedef struct {
    guint64 tx_frames;          /* frames from the guest sent to a peer */
    guint64 tx_bytes;
    guint64 tx_flooded;         /* frames from the guest sent to every peer */
    guint64 tx_no_route;        /* frames from the guest with no peer to go to */
    guint64 tx_errors;          /* sendto() failures */
    guint64 tx_too_big;         /* ... of them, datagrams over the path MTU
                                 * refused (EMSGSIZE) with no_fragment */
    guint64 tx_gso_segments;    /* datagrams sent by UDP_SEGMENT sends */
    guint64 rx_gro_segments;    /* datagrams read coalesced by UDP_GRO */
    guint64 rx_frames;          /* frames delivered to the guest */
    guint64 rx_bytes;
    guint64 rx_malformed;       /* truncated or inconsistent packets */
    guint64 rx_bad_version;
    guint64 rx_wrong_vc;        /* isolation drops: other VC */
    guint64 rx_wrong_lan;       /* isolation drops: other LAN of our VC */
    guint64 rx_not_for_us;      /* unicast for another VM */
    guint64 rx_control;         /* control messages received */
    guint64 rx_duplicates;      /* frames already delivered, dropped */
    guint64 rx_gaps;            /* frames never arrived, given up on */
    guint64 rx_forwarded;       /* frames for our VM after it left,
                                 * forwarded to its new host */
    guint64 tx_held;            /* guest frames held for a moving peer */
    guint64 tx_held_dropped;    /* ... dropped because that buffer was full */
    guint64 control_retransmits;
    guint64 rx_auth_failed;     /* did not authenticate: forged, tampered,
                                 * another key, or unsealed with a key */
    guint64 rx_replayed;        /* authentic, but seen before */
    guint64 rx_not_member;      /* from a VM that is no member this port
                                 * knows of its VC and LAN */
    guint64 rx_refused;         /* control messages refused: an epoch that
                                 * jumps too far or is exhausted, a RELAY
                                 * endpoint that is no address */
    guint64 rx_over_limit;      /* dropped because a table was full */
} LimeviStats;

typedef struct {
    guint64 frames;
    guint64 bytes;
    guint64 limit;
    guint64 dropped;
} LimeviBufferInfo;

/* A snapshot of a port, for query commands; free with limevi_port_info_free. */
typedef struct {
    char *vm;
    char *vc;
    char *lan;
    char *listen;               /* the bound address, port resolved */
    LimeviPortState state;
    GPtrArray *routes;          /* of LimeviRouteInfo *, sorted by vm */
    LimeviBufferInfo buffer;
    LimeviStats stats;
    guint mac_entries;
    guint32 epoch;              /* of this port's own VM */
    /* After an incoming migration: whether every peer acknowledged the
     * new route, and how many have not yet. */
    gboolean peers_synced;
    guint peers_pending;
} LimeviPortInfo;

typedef struct {
    /*
     * Hand one Ethernet frame to the guest.  Returns TRUE when the guest
     * took it; FALSE when it could not (queue full): the port keeps the
     * frame and delivers nothing more until limevi_port_guest_ready().
     * @frame is valid only during the call.
     */
    gboolean (*deliver)(gpointer opaque, const guint8 *frame, gsize len);
    /* Whether the guest can take a frame now.  Optional: NULL means always.
     * When it says no, frames are held until limevi_port_guest_ready(). */
    gboolean (*can_receive)(gpointer opaque);
    /* A route was added, changed or removed (removed: info->status is
     * INVALID and removed is TRUE).  Optional. */
    void (*route_changed)(gpointer opaque, const LimeviRouteInfo *info,
                          gboolean removed);
    /* Monotonic time in microseconds, for MAC ageing and the receive
     * side's gap and resequencing timeouts (their timers only poll it).
     * Optional: g_get_monotonic_time() when NULL; tests supply their own
     * clock. */
    gint64 (*now)(gpointer opaque);
    /* Every peer acknowledged the route announced at @epoch.  Optional. */
    void (*peers_synced)(gpointer opaque, guint32 epoch, guint peers);
    /* A buffer overflowed: @peer NULL for frames held for our guest, else
     * the moving peer frames were held for.  Optional. */
    void (*buffer_overflow)(gpointer opaque, const char *peer,
                            guint64 dropped);
} LimeviPortOps;

typedef struct LimeviPort LimeviPort;

/*
 * Creates a port and binds its UDP socket.  Every error names the option
 * at fault ("'listen' ...", "'routes' ...").  Returns NULL with @error set.
 */
LimeviPort *limevi_port_new(const LimeviPortConfig *config,
                            const LimeviPortOps *ops, gpointer opaque,
                            GError **error);
void limevi_port_free(LimeviPort *port);

/* A frame from the guest.  Never blocks; the frame is not retained. */
void limevi_port_send(LimeviPort *port, const guint8 *frame, gsize len);

/*
 * Frames sent between these two leave in batches, up to LIMEVI_UDP_BATCH
 * (32) datagrams per sendmmsg(): here the port retains each frame, which
 * must stay valid and unchanged until limevi_port_send_batch_end().
 * Order, sequence numbers, the backlog of a full link and the counters
 * are as for frames sent one by one.  Call nothing else in between.
 */
void limevi_port_send_batch_begin(LimeviPort *port);
void limevi_port_send_batch_end(LimeviPort *port);

/* The guest can receive again: deliver what the port holds. */
void limevi_port_guest_ready(LimeviPort *port);

/*
 * A frame deliver() accepted never reached the guest after all (QEMU
 * purged its queue when the guest stopped): the port takes it back as
 * the oldest frame it holds.
 */
void limevi_port_guest_returned(LimeviPort *port, const guint8 *frame,
                                gsize len);

/*
 * Add or change the route of @vm.  @lan NULL keeps the entry's LAN (the
 * port's LAN for a new entry).  Bumps the entry's epoch.  On error nothing
 * changes.
 */
gboolean limevi_port_route_set(LimeviPort *port, const char *vm,
                               const char *endpoint, const char *lan,
                               LimeviRouteStatus status, GError **error);
gboolean limevi_port_route_del(LimeviPort *port, const char *vm,
                               GError **error);

/*
 * Key rotation under traffic, in three steps that each port of the VC
 * takes before any takes the next, so no frame is lost:
 * limevi_port_key_rollover() accepts packets sealed with @key (as
 * LimeviPortConfig.key) besides the current key, and still seals with
 * the current one; limevi_port_key_rollover_seal() seals with @key;
 * limevi_port_key_rollover_end() forgets the old key.  The first is
 * refused, nothing changed, on a port without a key or when @key is the
 * current one.
 */
gboolean limevi_port_key_rollover(LimeviPort *port, const guint8 *key,
                                  gsize key_len, GError **error);
void limevi_port_key_rollover_seal(LimeviPort *port);
void limevi_port_key_rollover_end(LimeviPort *port);

/*
 * Live migration (DESIGN.md section 3).  The embedder calls these as its
 * migration progresses; frames are never lost or duplicated in between.
 *
 * Source: migration_start() when pre-copy begins; freeze() when the guest
 * stops for switchover (peers are told to hold frames for it); save() for
 * the state the destination needs; migration_done() once the VM runs at
 * the destination (frames still reaching us are forwarded there);
 * migration_failed() when it stays here after all.
 * Destination: set_incoming() before the guest state arrives; load() with
 * the source's state; activate() when the guest runs (peers and the
 * source are told where it is now).
 */
/*
 * What happened to the VM, as the embedder sees it.  The embedder only
 * reports these; the port's state machine decides what follows (see the
 * table in port.c).  Events that mean nothing in the current state are
 * ignored and traced.
 */
typedef enum {
    LIMEVI_EVENT_MIGRATION_SETUP,   /* source: pre-copy begins */
    LIMEVI_EVENT_SWITCHOVER,        /* source: the guest stopped for the
                                     * switchover (idempotent) */
    LIMEVI_EVENT_MIGRATION_DONE,    /* source: the VM runs at the dest. */
    LIMEVI_EVENT_MIGRATION_FAILED,  /* source: the VM stays here */
    LIMEVI_EVENT_INCOMING,          /* destination: before the state */
    LIMEVI_EVENT_GUEST_STOPPED,     /* the guest stopped, any reason */
    LIMEVI_EVENT_GUEST_RUNNING,     /* the guest runs (again) here */
} LimeviPortEvent;

void limevi_port_event(LimeviPort *port, LimeviPortEvent event);
const char *limevi_port_event_name(LimeviPortEvent event);

/*
 * The version of the migration state limevi_port_save() writes, for the
 * embedder's section registration (as slirp_state_version()).
 * limevi_port_load() also reads every older version down to
 * LIMEVI_STATE_VERSION_MIN; docs/state.md has the layout.
 */
guint32 limevi_state_version(void);

/* Deprecated by limevi_port_event(); kept until the glue stops using them. */
void limevi_port_migration_start(LimeviPort *port);
void limevi_port_freeze(LimeviPort *port);
GBytes *limevi_port_save(LimeviPort *port);
void limevi_port_migration_done(LimeviPort *port);
void limevi_port_migration_failed(LimeviPort *port);
void limevi_port_set_incoming(LimeviPort *port);
gboolean limevi_port_load(LimeviPort *port, const guint8 *data, gsize len,
                          GError **error);
void limevi_port_activate(LimeviPort *port);
LimeviPortState limevi_port_get_state(LimeviPort *port);

LimeviPortInfo *limevi_port_get_info(LimeviPort *port);
void limevi_port_info_free(LimeviPortInfo *info);
void limevi_route_info_free(LimeviRouteInfo *info);

const char *limevi_port_state_name(LimeviPortState state);
const char *limevi_route_status_name(LimeviRouteStatus status);

/* Checks a vm/vc/lan name; @what names the option in the message. */
gboolean limevi_name_valid(const char *name, const char *what,
                           GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviPort, limevi_port_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviPortInfo, limevi_port_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviRouteInfo, limevi_route_info_free)

G_END_DECLS

#endif /* LIMEVI_H */
