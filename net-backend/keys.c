/*
 * A port's keys (keys.h): what it seals with, and the one place a
 * received packet is opened.  The members' table is bounded by
 * LIMEVI_PEERS_MAX plus the port's own VM, whose old or new host also
 * speaks with its name during a migration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "keys.h"

gboolean limevi_keys_init(LimeviPort *port, const LimeviPortConfig *config,
                          GSocketAddress *listen, GError **error)
{
    LimeviKey key;

    if (!limevi_crypto_check_listen(
            listen, config->listen, config->key != NULL, config->insecure,
            config->key_option ? config->key_option : "'key'",
            config->insecure_option ? config->insecure_option
                                    : "'insecure'", error)) {
        return FALSE;
    }
    if (!config->key) {
        return TRUE;
    }
    if (!limevi_key_parse(config->key, config->key_len, &key, error)) {
        g_prefix_error(error, "%s: ", config->key_option ? config->key_option
                                                         : "'key'");
        return FALSE;
    }
    port->crypto = limevi_crypto_new(LIMEVI_CIPHER_DEFAULT, &key, error);
    memset(&key, 0, sizeof(key));
    if (!port->crypto) {
        return FALSE;
    }
    port->self = limevi_crypto_sender_new(port->crypto, port->vm, error);
    if (!port->self) {
        return FALSE;
    }
    port->auth = limevi_auth_new(port->crypto, LIMEVI_PEERS_MAX + 1);
    port->rx_plain = g_malloc(LIMEVI_WIRE_FRAME_MAX + LIMEVI_WIRE_TAG_LEN);
    return TRUE;
}

void limevi_keys_attach(LimeviPort *port, guint64 carried)
{
    if (port->crypto) {
        limevi_udp_set_sealer(port->udp, port->crypto, port->self,
                              limevi_crypto_first_counter(carried));
    }
}

void limevi_keys_cleanup(LimeviPort *port)
{
    g_clear_pointer(&port->auth, limevi_auth_free);
    g_clear_pointer(&port->self, limevi_crypto_sender_free);
    g_clear_pointer(&port->crypto, limevi_crypto_free);
    g_clear_pointer(&port->rx_plain, g_free);
}

gboolean limevi_keys_open(LimeviPort *port, LimeviWirePacket *pkt,
                          gboolean again)
{
    char name[LIMEVI_WIRE_NAME_MAX + 1];
    const LimeviWireName *by = &pkt->src;
    LimeviAuthStatus status;
    gboolean known;
    gsize plain_len;

    if (!port->auth || !pkt->sealed) {
        if (port->auth || pkt->sealed) {
            port->stats.rx_auth_failed++;
            return FALSE;
        }
        return TRUE;
    }
    if (pkt->payload_len > LIMEVI_WIRE_FRAME_MAX + LIMEVI_WIRE_TAG_LEN) {
        port->stats.rx_malformed++;
        return FALSE;
    }
    /* A RELAY and its answer come from our own VM's other host, sealed
     * under our VM's key; anything else under its source's. */
    if (pkt->flags & LIMEVI_WIRE_FLAG_BY_DST) {
        if (!limevi_wire_name_equal(&pkt->dst, port->vm, port->vm_len)) {
            port->stats.rx_auth_failed++;
            return FALSE;
        }
        by = &pkt->dst;
    }
    memcpy(name, by->str, by->len);
    name[by->len] = '\0';
    /* A sender is kept only once one of its packets authenticated, so a
     * stranger's names never fill the table. */
    known = limevi_auth_knows(port->auth, name);
    if (!known && !limevi_auth_add(port->auth, name, NULL)) {
        port->stats.rx_over_limit++;
        return FALSE;
    }
    status = limevi_auth_open(port->auth, by->str, by->len,
                              pkt->key_id, pkt->counter, pkt->header,
                              pkt->header_len, pkt->payload,
                              pkt->payload_len, port->rx_plain, again);
    if (status != LIMEVI_AUTH_OK && !known) {
        limevi_auth_remove(port->auth, name);
    }
    if (status == LIMEVI_AUTH_REPLAYED) {
        port->stats.rx_replayed++;
        return FALSE;
    }
    if (status != LIMEVI_AUTH_OK) {
        port->stats.rx_auth_failed++;
        return FALSE;
    }
    plain_len = pkt->payload_len - LIMEVI_WIRE_TAG_LEN;
    if (limevi_wire_decode_payload(pkt, port->rx_plain, plain_len) !=
        LIMEVI_WIRE_OK) {
        port->stats.rx_malformed++;
        return FALSE;
    }
    return TRUE;
}

gboolean limevi_port_key_rollover(LimeviPort *port, const guint8 *data,
                                  gsize len, GError **error)
{
    LimeviKey key;
    gboolean ok;

    if (!port->crypto) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "this port has no key to roll over from");
        return FALSE;
    }
    if (!limevi_key_parse(data, len, &key, error)) {
        return FALSE;
    }
    ok = limevi_crypto_rollover(port->crypto, &key, error);
    memset(&key, 0, sizeof(key));
    if (ok) {
        limevi_crypto_seal_previous(port->crypto, TRUE);
    }
    return ok;
}

void limevi_port_key_rollover_seal(LimeviPort *port)
{
    if (port->crypto) {
        limevi_crypto_seal_previous(port->crypto, FALSE);
    }
}

void limevi_port_key_rollover_end(LimeviPort *port)
{
    if (port->crypto) {
        limevi_crypto_end_rollover(port->crypto);
    }
}
