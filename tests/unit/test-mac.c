/*
 * MAC learning: what is learnt, what never is, ageing on an injected
 * clock, and forgetting a VM.
 */
#include "fake-guest.h"
#include "mac.h"

#define AGEING_US (300 * G_USEC_PER_SEC)

static const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const guint8 mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const guint8 multicast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

static gint64 fake_now(gpointer data)
{
    return *(gint64 *)data;
}

static void test_learn_maps_source_to_vm(void)
{
    gint64 now = 0;
    LimeviMacTable *table = limevi_mac_table_new(AGEING_US, fake_now, &now);

    g_assert_null(limevi_mac_table_lookup(table, mac_a));
    /* Names come from packets: not NUL-terminated. */
    g_assert_true(limevi_mac_table_learn(table, mac_a, "vm2xyz", 3));
    g_assert_cmpstr(limevi_mac_table_lookup(table, mac_a), ==, "vm2");
    g_assert_null(limevi_mac_table_lookup(table, mac_b));
    g_assert_cmpuint(limevi_mac_table_size(table), ==, 1);
    limevi_mac_table_free(table);
}

static void test_learn_ignores_broadcast_and_multicast(void)
{
    gint64 now = 0;
    LimeviMacTable *table = limevi_mac_table_new(AGEING_US, fake_now, &now);

    g_assert_false(limevi_mac_table_learn(table, test_broadcast, "vm2", 3));
    g_assert_false(limevi_mac_table_learn(table, multicast, "vm2", 3));
    g_assert_null(limevi_mac_table_lookup(table, test_broadcast));
    g_assert_null(limevi_mac_table_lookup(table, multicast));
    g_assert_cmpuint(limevi_mac_table_size(table), ==, 0);
    limevi_mac_table_free(table);
}

static void test_learn_follows_a_moved_mac(void)
{
    gint64 now = 0;
    LimeviMacTable *table = limevi_mac_table_new(AGEING_US, fake_now, &now);

    limevi_mac_table_learn(table, mac_a, "vm2", 3);
    limevi_mac_table_learn(table, mac_a, "vm10", 4);
    g_assert_cmpstr(limevi_mac_table_lookup(table, mac_a), ==, "vm10");
    limevi_mac_table_learn(table, mac_a, "vm3", 3);
    g_assert_cmpstr(limevi_mac_table_lookup(table, mac_a), ==, "vm3");
    g_assert_cmpuint(limevi_mac_table_size(table), ==, 1);
    limevi_mac_table_free(table);
}

static void test_ageing_forgets_after_the_ageing_time(void)
{
    gint64 now = 0;
    LimeviMacTable *table = limevi_mac_table_new(AGEING_US, fake_now, &now);

    limevi_mac_table_learn(table, mac_a, "vm2", 3);
    limevi_mac_table_learn(table, mac_b, "vm3", 3);
    now = AGEING_US - 1;
    g_assert_cmpstr(limevi_mac_table_lookup(table, mac_a), ==, "vm2");
    /* A frame from b refreshes b only. */
    limevi_mac_table_learn(table, mac_b, "vm3", 3);
    now = AGEING_US;
    g_assert_null(limevi_mac_table_lookup(table, mac_a));
    g_assert_cmpstr(limevi_mac_table_lookup(table, mac_b), ==, "vm3");
    g_assert_cmpuint(limevi_mac_table_size(table), ==, 1);
    now = 2 * AGEING_US;
    g_assert_cmpuint(limevi_mac_table_size(table), ==, 0);
    limevi_mac_table_free(table);
}

static void test_forget_vm_removes_only_that_vm(void)
{
    LimeviMacTable *table = limevi_mac_table_new(AGEING_US, NULL, NULL);

    limevi_mac_table_learn(table, mac_a, "vm2", 3);
    limevi_mac_table_learn(table, mac_b, "vm3", 3);
    limevi_mac_table_forget_vm(table, "vm2");
    g_assert_null(limevi_mac_table_lookup(table, mac_a));
    g_assert_cmpstr(limevi_mac_table_lookup(table, mac_b), ==, "vm3");
    limevi_mac_table_free(table);
}

static void test_learn_is_bounded(void)
{
    gint64 now = 0;
    LimeviMacTable *table = limevi_mac_table_new(AGEING_US, fake_now, &now);
    guint8 mac[6] = { 0x02, 0, 0, 0, 0, 0 };

    for (guint i = 0; i < LIMEVI_MAC_TABLE_MAX; i++) {
        mac[4] = i >> 8;
        mac[5] = i;
        g_assert_true(limevi_mac_table_learn(table, mac, "vm2", 3));
    }
    mac[3] = 1;
    g_assert_false(limevi_mac_table_learn(table, mac, "vm2", 3));
    g_assert_null(limevi_mac_table_lookup(table, mac));
    /* A MAC already known is still refreshed when the table is full
     * (mac_a is the tenth one learnt). */
    g_assert_true(limevi_mac_table_learn(table, mac_a, "vm3", 3));
    g_assert_cmpstr(limevi_mac_table_lookup(table, mac_a), ==, "vm3");
    now = AGEING_US;
    g_assert_true(limevi_mac_table_learn(table, mac, "vm2", 3));
    g_assert_cmpuint(limevi_mac_table_size(table), ==, 1);
    limevi_mac_table_free(table);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/mac/learn/maps-source-mac-to-vm",
                    test_learn_maps_source_to_vm);
    g_test_add_func("/mac/learn/ignores-broadcast-and-multicast-sources",
                    test_learn_ignores_broadcast_and_multicast);
    g_test_add_func("/mac/learn/follows-a-mac-that-moved",
                    test_learn_follows_a_moved_mac);
    g_test_add_func("/mac/learn/is-bounded-until-entries-age",
                    test_learn_is_bounded);
    g_test_add_func("/mac/ageing/forgets-after-the-ageing-time",
                    test_ageing_forgets_after_the_ageing_time);
    g_test_add_func("/mac/forget-vm/removes-only-that-vm",
                    test_forget_vm_removes_only_that_vm);
    return g_test_run();
}
