/*
 * The MAC learning table of a port: which VM a source MAC was last seen
 * behind, like a bridge's forwarding database, with lazy ageing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_MAC_H
#define LIMEVI_MAC_H

#include <glib.h>

#define LIMEVI_MAC_AGEING_DEFAULT_S 300
/* Bounds the memory a peer can make us spend by inventing source MACs. */
#define LIMEVI_MAC_TABLE_MAX        4096

/* Monotonic time in microseconds, like g_get_monotonic_time(). */
typedef gint64 (*LimeviClockFunc)(gpointer data);

typedef struct LimeviMacTable LimeviMacTable;

/* @clock NULL: g_get_monotonic_time(). */
LimeviMacTable *limevi_mac_table_new(gint64 ageing_us, LimeviClockFunc clock,
                                     gpointer clock_data);
void limevi_mac_table_free(LimeviMacTable *table);

static inline gboolean limevi_mac_is_multicast(const guint8 *mac)
{
    return mac[0] & 1;          /* the I/G bit; broadcast included */
}

/*
 * Records that @mac sits behind the VM named by @vm_len bytes at @vm (not
 * NUL-terminated).  Broadcast and multicast sources are never learned.
 * Allocates only for a MAC not seen before; returns FALSE when it was not
 * learned (multicast, or the table is full of live entries).
 */
gboolean limevi_mac_table_learn(LimeviMacTable *table, const guint8 *mac,
                                const char *vm, gsize vm_len);

/* The VM behind @mac, owned by the table; NULL if unknown or aged out. */
const char *limevi_mac_table_lookup(LimeviMacTable *table,
                                    const guint8 *mac);

/* Forgets every MAC learned behind @vm, e.g. when its route goes away. */
void limevi_mac_table_forget_vm(LimeviMacTable *table, const char *vm);

typedef void (*LimeviMacFunc)(const guint8 mac[6], const char *vm,
                              gpointer data);

/* Calls @func for every live entry, e.g. to carry the table along. */
void limevi_mac_table_foreach(LimeviMacTable *table, LimeviMacFunc func,
                              gpointer data);

/* Live entries; ages out the others first. */
guint limevi_mac_table_size(LimeviMacTable *table);

#endif /* LIMEVI_MAC_H */
