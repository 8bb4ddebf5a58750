/*
 * The probe's accounting, fed sequences directly: what a test concludes
 * from "lost 0" is only as good as these counts.
 */
#include <glib.h>

#include "probe-wire.h"
#include "stream-stats.h"

#define MS (G_GINT64_CONSTANT(1000000))

/* Feeds @seqs, one per millisecond, as a stream of @count. */
static void feed(StreamStats *s, const guint32 *seqs, gsize n, guint32 count)
{
    for (gsize i = 0; i < n; i++) {
        g_assert_cmpint(stream_stats_add(s, seqs[i], count, i * MS), ==, 0);
    }
}

static void test_in_order_stream_counts_nothing_lost(void)
{
    StreamStats s;

    stream_stats_init(&s, "a");
    for (guint32 i = 0; i < 5000; i++) {
        g_assert_cmpint(stream_stats_add(&s, i, 5000, i * MS), ==, 0);
    }
    g_assert_cmpuint(s.received, ==, 5000);
    g_assert_cmpuint(stream_stats_lost(&s), ==, 0);
    g_assert_cmpuint(s.duplicated, ==, 0);
    g_assert_cmpuint(s.reordered, ==, 0);
    g_assert_cmpuint(s.first_seq, ==, 0);
    g_assert_cmpuint(s.last_seq, ==, 4999);
    g_assert_true(stream_stats_saw_last(&s));
    stream_stats_clear(&s);
}

static void test_gaps_count_as_lost(void)
{
    static const guint32 seqs[] = { 0, 1, 4, 5, 9 };
    StreamStats s;

    stream_stats_init(&s, "a");
    feed(&s, seqs, G_N_ELEMENTS(seqs), 0);
    /* 2, 3, 6, 7, 8 never came. */
    g_assert_cmpuint(stream_stats_lost(&s), ==, 5);
    g_assert_cmpuint(s.received, ==, 5);
    stream_stats_clear(&s);
}

static void test_announced_tail_counts_as_lost(void)
{
    static const guint32 seqs[] = { 0, 1, 2 };
    StreamStats s;

    stream_stats_init(&s, "a");
    feed(&s, seqs, G_N_ELEMENTS(seqs), 10);
    g_assert_cmpuint(stream_stats_lost(&s), ==, 7);
    g_assert_false(stream_stats_saw_last(&s));
    stream_stats_clear(&s);
}

static void test_lost_head_counts_as_lost(void)
{
    static const guint32 seqs[] = { 3, 4 };
    StreamStats s;

    stream_stats_init(&s, "a");
    feed(&s, seqs, G_N_ELEMENTS(seqs), 5);
    g_assert_cmpuint(stream_stats_lost(&s), ==, 3);
    g_assert_cmpuint(s.first_seq, ==, 3);
    stream_stats_clear(&s);
}

static void test_duplicate_is_counted_once(void)
{
    static const guint32 seqs[] = { 0, 1, 1, 2, 1 };
    StreamStats s;

    stream_stats_init(&s, "a");
    feed(&s, seqs, G_N_ELEMENTS(seqs), 3);
    g_assert_cmpuint(s.received, ==, 3);
    g_assert_cmpuint(s.duplicated, ==, 2);
    g_assert_cmpuint(stream_stats_lost(&s), ==, 0);
    /* A late duplicate is not a reordering. */
    g_assert_cmpuint(s.reordered, ==, 0);
    stream_stats_clear(&s);
}

static void test_late_arrival_is_reordered_not_lost(void)
{
    static const guint32 seqs[] = { 0, 2, 3, 1, 4 };
    StreamStats s;

    stream_stats_init(&s, "a");
    feed(&s, seqs, G_N_ELEMENTS(seqs), 5);
    g_assert_cmpuint(s.reordered, ==, 1);
    g_assert_cmpuint(stream_stats_lost(&s), ==, 0);
    stream_stats_clear(&s);
}

static void test_longest_silence_is_max_gap(void)
{
    StreamStats s;

    stream_stats_init(&s, "a");
    g_assert_cmpint(stream_stats_add(&s, 0, 4, 0), ==, 0);
    g_assert_cmpint(stream_stats_add(&s, 1, 4, 2 * MS), ==, 0);
    g_assert_cmpint(stream_stats_add(&s, 2, 4, 252 * MS), ==, 0);
    g_assert_cmpint(stream_stats_add(&s, 3, 4, 253 * MS), ==, 0);
    g_assert_cmpint(s.max_gap_ns, ==, 250 * MS);
    stream_stats_clear(&s);
}

static void test_out_of_range_seq_is_refused(void)
{
    StreamStats s;

    stream_stats_init(&s, "a");
    g_assert_cmpint(stream_stats_add(&s, STREAM_SEQ_LIMIT, 0, 0), ==, -1);
    g_assert_cmpuint(s.received, ==, 0);
    stream_stats_clear(&s);
}

static void test_report_is_one_json_line_with_every_field(void)
{
    static const guint32 seqs[] = { 0, 2, 2 };
    StreamStats s;
    char line[512];

    stream_stats_init(&s, "vm1");
    feed(&s, seqs, G_N_ELEMENTS(seqs), 4);
    stream_stats_format(&s, line, sizeof(line));
    g_assert_cmpstr(line, ==,
                    "{\"sender\":\"vm1\",\"received\":2,\"lost\":2,"
                    "\"duplicated\":1,\"reordered\":0,\"max_gap_ms\":1.000,"
                    "\"first_seq\":0,\"last_seq\":2,\"expected\":4}");
    stream_stats_clear(&s);
}

static void test_header_round_trips(void)
{
    ProbeHeader in = { .seq = 7, .count = 9,
                       .send_ns = G_GUINT64_CONSTANT(0x123456789abcdef0) };
    ProbeHeader out;
    guint8 buf[128];
    int len;

    g_strlcpy(in.id, "a-b.c:1", sizeof(in.id));
    len = probe_header_encode(&in, buf, sizeof(buf));
    g_assert_cmpint(len, ==, PROBE_HEADER_FIXED + 7);
    g_assert_cmpint(probe_header_decode(buf, len, &out), ==, 0);
    g_assert_cmpstr(out.id, ==, "a-b.c:1");
    g_assert_cmpuint(out.seq, ==, 7);
    g_assert_cmpuint(out.count, ==, 9);
    g_assert_cmpuint(out.send_ns, ==, in.send_ns);
}

static void test_header_decoder_rejects_truncated_and_foreign(void)
{
    ProbeHeader in = { .seq = 1, .count = 2 }, out;
    guint8 buf[128];
    int len;

    g_strlcpy(in.id, "abc", sizeof(in.id));
    len = probe_header_encode(&in, buf, sizeof(buf));
    for (int cut = 0; cut < len; cut++) {
        g_assert_cmpint(probe_header_decode(buf, cut, &out), ==, -1);
    }
    buf[0] ^= 1;
    g_assert_cmpint(probe_header_decode(buf, len, &out), ==, -1);
    buf[0] ^= 1;
    buf[24] = '"';              /* would break the JSON report */
    g_assert_cmpint(probe_header_decode(buf, len, &out), ==, -1);
    buf[24] = 'a';
    buf[11] = 2;                /* seq 2 of a stream of 2 */
    g_assert_cmpint(probe_header_decode(buf, len, &out), ==, -1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/probe/stats/in-order-stream-loses-nothing",
                    test_in_order_stream_counts_nothing_lost);
    g_test_add_func("/probe/stats/gaps-count-as-lost",
                    test_gaps_count_as_lost);
    g_test_add_func("/probe/stats/announced-tail-counts-as-lost",
                    test_announced_tail_counts_as_lost);
    g_test_add_func("/probe/stats/lost-head-counts-as-lost",
                    test_lost_head_counts_as_lost);
    g_test_add_func("/probe/stats/duplicate-is-counted-once",
                    test_duplicate_is_counted_once);
    g_test_add_func("/probe/stats/late-arrival-is-reordered-not-lost",
                    test_late_arrival_is_reordered_not_lost);
    g_test_add_func("/probe/stats/longest-silence-is-max-gap",
                    test_longest_silence_is_max_gap);
    g_test_add_func("/probe/stats/out-of-range-seq-is-refused",
                    test_out_of_range_seq_is_refused);
    g_test_add_func("/probe/stats/report-is-one-json-line",
                    test_report_is_one_json_line_with_every_field);
    g_test_add_func("/probe/wire/header-round-trips",
                    test_header_round_trips);
    g_test_add_func("/probe/wire/decoder-rejects-truncated-and-foreign",
                    test_header_decoder_rejects_truncated_and_foreign);
    return g_test_run();
}
