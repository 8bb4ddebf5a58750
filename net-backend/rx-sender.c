/*
 * The table of senders the receive side follows, bounded, and each
 * sender's runs of sequence numbers dropped for want of room: what lets
 * resequencing skip a frame it will never see rather than wait for it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "rx.h"
#include "rx-sender.h"

static void rx_sender_free(gpointer data)
{
    LimeviRxSender *s = data;

    limevi_buffer_free(s->held);
    g_free(s);
}

GHashTable *limevi_rx_senders_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                 rx_sender_free);
}

gboolean limevi_rx_senders_add(LimeviPort *port, GHashTable *senders,
                               const char *vm, guint64 next, GBytes *held,
                               GError **error)
{
    g_autofree LimeviRxSender *s = g_new0(LimeviRxSender, 1);
    gsize len = held ? g_bytes_get_size(held) : 0;

    s->next = next;
    if (len) {
        s->held = limevi_buffer_new(port->buffer_limit);
        if (!limevi_buffer_load_seq(s->held, next,
                                    g_bytes_get_data(held, NULL), len,
                                    error)) {
            limevi_buffer_free(s->held);
            return FALSE;
        }
        if (limevi_buffer_is_empty(s->held)) {
            g_clear_pointer(&s->held, limevi_buffer_free);
        }
    }
    g_hash_table_replace(senders, g_strdup(vm), g_steal_pointer(&s));
    return TRUE;
}

void limevi_rx_senders_foreach(LimeviPort *port, LimeviRxSenderFunc func,
                               gpointer data)
{
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, port->rx);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        LimeviRxSender *s = value;
        g_autoptr(GBytes) held = s->held ? limevi_buffer_save_seq(s->held)
                                         : NULL;

        func(key, s->next, held, data);
    }
}

LimeviRxSender *limevi_rx_sender_get(LimeviPort *port,
                                     const LimeviWireName *src,
                                     gboolean *is_new)
{
    char name[LIMEVI_WIRE_NAME_MAX + 1];
    LimeviRxSender *s;

    memcpy(name, src->str, src->len);
    name[src->len] = '\0';
    s = g_hash_table_lookup(port->rx, name);
    *is_new = !s;
    if (!s && g_hash_table_size(port->rx) >= LIMEVI_RX_SENDERS_MAX) {
        port->stats.rx_over_limit++;
        return NULL;
    }
    if (!s) {
        s = g_new0(LimeviRxSender, 1);
        g_hash_table_insert(port->rx, g_strdup(name), s);
    }
    return s;
}

gboolean limevi_rx_sender_was_dropped(LimeviRxSender *s, guint64 seq)
{
    for (guint i = 0; i < s->n_dropped; i++) {
        if (seq >= s->dropped[i].first && seq <= s->dropped[i].last) {
            return TRUE;
        }
    }
    return FALSE;
}

guint64 limevi_rx_sender_dropped_before(LimeviRxSender *s, guint64 end)
{
    guint64 n = 0;

    for (guint i = 0; i < s->n_dropped; i++) {
        guint64 first = MAX(s->dropped[i].first, s->next);
        guint64 last = MIN(s->dropped[i].last, end - 1);

        n += first <= last ? last - first + 1 : 0;
    }
    return n;
}

void limevi_rx_sender_remember_dropped(LimeviRxSender *s, guint64 seq)
{
    guint i = 0;

    while (i < s->n_dropped && s->dropped[i].first < seq) {
        i++;
    }
    if (i > 0 && s->dropped[i - 1].last + 1 == seq) {
        s->dropped[i - 1].last = seq;
        if (i < s->n_dropped && s->dropped[i].first == seq + 1) {
            s->dropped[i - 1].last = s->dropped[i].last;
            s->n_dropped--;
            memmove(&s->dropped[i], &s->dropped[i + 1],
                    (s->n_dropped - i) * sizeof(s->dropped[0]));
        }
        return;
    }
    if (i < s->n_dropped && s->dropped[i].first == seq + 1) {
        s->dropped[i].first = seq;
        return;
    }
    if (s->n_dropped == LIMEVI_RX_DROPPED_RUNS) {
        return;
    }
    memmove(&s->dropped[i + 1], &s->dropped[i],
            (s->n_dropped - i) * sizeof(s->dropped[0]));
    s->dropped[i] = (LimeviSeqRun){ seq, seq };
    s->n_dropped++;
}

void limevi_rx_sender_skip_dropped(LimeviRxSender *s)
{
    while (s->n_dropped && s->dropped[0].first <= s->next) {
        s->next = MAX(s->next, s->dropped[0].last + 1);
        s->n_dropped--;
        memmove(&s->dropped[0], &s->dropped[1],
                s->n_dropped * sizeof(s->dropped[0]));
    }
}
