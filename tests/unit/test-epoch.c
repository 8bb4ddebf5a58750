/*
 * The epoch rule: no wrap, no jump beyond the bound, the last epochs
 * never reachable by an announcement.
 */
#include "epoch.h"

static void test_forward_within_bound(void)
{
    g_assert_cmpint(limevi_epoch_judge(FALSE, 0, 0), ==, LIMEVI_EPOCH_NEWER);
    g_assert_cmpint(limevi_epoch_judge(TRUE, 5, 6), ==, LIMEVI_EPOCH_NEWER);
    g_assert_cmpint(limevi_epoch_judge(TRUE, 5, 5 + LIMEVI_EPOCH_JUMP_MAX),
                    ==, LIMEVI_EPOCH_NEWER);
    g_assert_cmpint(limevi_epoch_judge(TRUE, 5, 5), ==, LIMEVI_EPOCH_SAME);
    g_assert_cmpint(limevi_epoch_judge(TRUE, 5, 4), ==, LIMEVI_EPOCH_STALE);
}

static void test_jump_refused(void)
{
    g_assert_cmpint(limevi_epoch_judge(TRUE, 5,
                                       6 + LIMEVI_EPOCH_JUMP_MAX),
                    ==, LIMEVI_EPOCH_TOO_FAR);
    g_assert_cmpint(limevi_epoch_judge(TRUE, 0, 0x7fffffff), ==,
                    LIMEVI_EPOCH_TOO_FAR);
}

static void test_end_never_reached(void)
{
    /* The hijack: an UPDATE at 0xffffffff. */
    g_assert_cmpint(limevi_epoch_judge(FALSE, 0, G_MAXUINT32), ==,
                    LIMEVI_EPOCH_EXHAUSTED);
    g_assert_cmpint(limevi_epoch_judge(TRUE, LIMEVI_EPOCH_LIMIT - 1,
                                       G_MAXUINT32), ==,
                    LIMEVI_EPOCH_EXHAUSTED);
    g_assert_cmpint(limevi_epoch_judge(TRUE, LIMEVI_EPOCH_LIMIT - 2,
                                       LIMEVI_EPOCH_LIMIT), ==,
                    LIMEVI_EPOCH_EXHAUSTED);
    g_assert_cmpint(limevi_epoch_judge(TRUE, LIMEVI_EPOCH_LIMIT - 2,
                                       LIMEVI_EPOCH_LIMIT - 1), ==,
                    LIMEVI_EPOCH_NEWER);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/epoch/accepts-forward-within-the-bound",
                    test_forward_within_bound);
    g_test_add_func("/epoch/refuses-a-jump-beyond-the-bound",
                    test_jump_refused);
    g_test_add_func("/epoch/announcements-never-reach-the-end",
                    test_end_never_reached);
    return g_test_run();
}
