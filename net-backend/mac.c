/*
 * MAC learning with lazy ageing: an entry is checked against the clock
 * only when it is looked up or the table is counted, so no timer runs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mac.h"
#include "wire.h"

typedef struct {
    gint64 key;                 /* the MAC in the low 48 bits */
    gint64 seen;                /* clock time of the last frame from it */
    char vm[LIMEVI_WIRE_NAME_MAX + 1];
} MacEntry;

struct LimeviMacTable {
    GHashTable *entries;        /* &entry->key -> MacEntry */
    gint64 ageing_us;
    LimeviClockFunc clock;
    gpointer clock_data;
};

static gint64 mac_key(const guint8 *mac)
{
    gint64 key = 0;

    for (int i = 0; i < 6; i++) {
        key = key << 8 | mac[i];
    }
    return key;
}

static gint64 mac_now(LimeviMacTable *table)
{
    return table->clock ? table->clock(table->clock_data)
                        : g_get_monotonic_time();
}

static gboolean mac_expired(LimeviMacTable *table, const MacEntry *entry,
                            gint64 now)
{
    return now - entry->seen >= table->ageing_us;
}

LimeviMacTable *limevi_mac_table_new(gint64 ageing_us, LimeviClockFunc clock,
                                     gpointer clock_data)
{
    LimeviMacTable *table = g_new0(LimeviMacTable, 1);

    table->entries = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                           NULL, g_free);
    table->ageing_us = ageing_us;
    table->clock = clock;
    table->clock_data = clock_data;
    return table;
}

void limevi_mac_table_free(LimeviMacTable *table)
{
    if (!table) {
        return;
    }
    g_hash_table_destroy(table->entries);
    g_free(table);
}

static gboolean remove_if_expired(gpointer key, gpointer value,
                                  gpointer opaque)
{
    LimeviMacTable *table = opaque;

    return mac_expired(table, value, mac_now(table));
}

gboolean limevi_mac_table_learn(LimeviMacTable *table, const guint8 *mac,
                                const char *vm, gsize vm_len)
{
    gint64 key = mac_key(mac);
    MacEntry *entry;

    if (limevi_mac_is_multicast(mac) || vm_len == 0 ||
        vm_len > LIMEVI_WIRE_NAME_MAX) {
        return FALSE;
    }
    entry = g_hash_table_lookup(table->entries, &key);
    if (!entry) {
        if (g_hash_table_size(table->entries) >= LIMEVI_MAC_TABLE_MAX) {
            g_hash_table_foreach_remove(table->entries, remove_if_expired,
                                        table);
            if (g_hash_table_size(table->entries) >= LIMEVI_MAC_TABLE_MAX) {
                return FALSE;
            }
        }
        entry = g_new0(MacEntry, 1);
        entry->key = key;
        g_hash_table_insert(table->entries, &entry->key, entry);
    }
    /* A MAC that moved to another VM follows it, as on a bridge. */
    memcpy(entry->vm, vm, vm_len);
    entry->vm[vm_len] = '\0';
    entry->seen = mac_now(table);
    return TRUE;
}

const char *limevi_mac_table_lookup(LimeviMacTable *table, const guint8 *mac)
{
    gint64 key = mac_key(mac);
    MacEntry *entry = g_hash_table_lookup(table->entries, &key);

    if (!entry) {
        return NULL;
    }
    if (mac_expired(table, entry, mac_now(table))) {
        g_hash_table_remove(table->entries, &key);
        return NULL;
    }
    return entry->vm;
}

static gboolean remove_if_vm(gpointer key, gpointer value, gpointer opaque)
{
    const MacEntry *entry = value;

    return strcmp(entry->vm, opaque) == 0;
}

void limevi_mac_table_forget_vm(LimeviMacTable *table, const char *vm)
{
    g_hash_table_foreach_remove(table->entries, remove_if_vm, (gpointer)vm);
}

void limevi_mac_table_foreach(LimeviMacTable *table, LimeviMacFunc func,
                              gpointer data)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_foreach_remove(table->entries, remove_if_expired, table);
    g_hash_table_iter_init(&it, table->entries);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const MacEntry *entry = value;
        guint8 mac[6];

        for (int i = 0; i < 6; i++) {
            mac[i] = entry->key >> (8 * (5 - i));
        }
        func(mac, entry->vm, data);
    }
}

guint limevi_mac_table_size(LimeviMacTable *table)
{
    g_hash_table_foreach_remove(table->entries, remove_if_expired, table);
    return g_hash_table_size(table->entries);
}
