/*
 * How --bandwidth is shared while a VC converges (coordinator/share.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "share.h"

#define MB (1000 * 1000)

static guint64 sum(const guint64 *v, guint n)
{
    guint64 s = 0;

    for (guint i = 0; i < n; i++) {
        s += v[i];
    }
    return s;
}

/* Nothing ready: by what each still has to send, every VM at least a
 * quarter of its even share, the whole link used. */
static void test_copying_by_remaining(void)
{
    const LimeviShareVm vms[] = {
        { .remaining = 300 * MB }, { .remaining = 100 * MB },
        { .remaining = 0 }, { .remaining = 100 * MB },
    };
    guint64 out[4];

    limevi_share_bandwidth(12 * MB, vms, 4, out);
    g_assert_cmpuint(sum(out, 4), <=, 12 * MB);
    g_assert_cmpuint(sum(out, 4), >=, 12 * MB - 4);
    for (guint i = 0; i < 4; i++) {
        g_assert_cmpuint(out[i], >=, 3 * MB / 4);
    }
    g_assert_cmpuint(out[0], >, out[1]);
    g_assert_cmpuint(out[1], ==, out[3]);
    g_assert_cmpuint(out[2], <, out[1]);
}

/* A ready VM keeps twice its dirty rate; the rest of its even share goes
 * to the VMs still copying. */
static void test_ready_gives_its_share_away(void)
{
    const LimeviShareVm vms[] = {
        { .ready = TRUE, .dirty_bytes = 2 * MB },
        { .remaining = 100 * MB }, { .remaining = 100 * MB },
    };
    guint64 out[3];

    limevi_share_bandwidth(30 * MB, vms, 3, out);
    g_assert_cmpuint(out[0], ==, 4 * MB);
    g_assert_cmpuint(out[1], ==, out[2]);
    g_assert_cmpuint(out[1], >=, 13 * MB - 1);
    g_assert_cmpuint(sum(out, 3), <=, 30 * MB);
    g_assert_cmpuint(sum(out, 3), >=, 30 * MB - 3);
}

/* A ready VM's share stays between an eighth and all of its even share,
 * however little or much it dirties; all ready, the link is not
 * overrun. */
static void test_ready_bounds(void)
{
    const LimeviShareVm vms[] = {
        { .ready = TRUE, .dirty_bytes = 0 },
        { .ready = TRUE, .dirty_bytes = 100 * MB },
        { .ready = TRUE, .dirty_bytes = 2 * MB },
    };
    guint64 out[3];

    limevi_share_bandwidth(24 * MB, vms, 3, out);
    g_assert_cmpuint(out[0], ==, MB);
    g_assert_cmpuint(out[1], ==, 8 * MB);
    g_assert_cmpuint(out[2], ==, 4 * MB);
    g_assert_cmpuint(sum(out, 3), <=, 24 * MB);
}

/* One VM: the whole link while it copies, twice its dirty rate once
 * ready. */
static void test_one_vm(void)
{
    LimeviShareVm vm = { .remaining = 5 * MB };
    guint64 out;

    limevi_share_bandwidth(10 * MB, &vm, 1, &out);
    g_assert_cmpuint(out, ==, 10 * MB);
    vm.ready = TRUE;
    vm.dirty_bytes = 3 * MB;
    limevi_share_bandwidth(10 * MB, &vm, 1, &out);
    g_assert_cmpuint(out, ==, 6 * MB);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/share/copying-by-remaining", test_copying_by_remaining);
    g_test_add_func("/share/ready-gives-its-share-away",
                    test_ready_gives_its_share_away);
    g_test_add_func("/share/ready-bounds", test_ready_bounds);
    g_test_add_func("/share/one-vm", test_one_vm);
    return g_test_run();
}
