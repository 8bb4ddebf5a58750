/*
 * Deadlines and the line reader the console and QMP share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "harness-private.h"

G_DEFINE_QUARK(harness-error-quark, harness_error)

gint64 harness_deadline(guint timeout_ms)
{
    return g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

int harness_remaining_ms(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    return left <= 0 ? 0 : (int)MIN((left + 999) / 1000, G_MAXINT);
}

void hlines_init(HLines *lines, int fd, GString *log)
{
    lines->fd = fd;
    lines->buf = g_string_new(NULL);
    lines->log = log;
    lines->eof = FALSE;
}

void hlines_clear(HLines *lines)
{
    if (lines->buf) {
        g_string_free(lines->buf, TRUE);
        lines->buf = NULL;
    }
    lines->fd = -1;
}

static char *hlines_take(HLines *lines, const char *nl)
{
    gsize len = nl - lines->buf->str;
    char *line = g_strndup(lines->buf->str, len);

    g_string_erase(lines->buf, 0, len + 1);
    /* The guest's tty turns "\n" into "\r\n". */
    if (len && line[len - 1] == '\r') {
        line[len - 1] = '\0';
    }
    return line;
}

char *hlines_read(HLines *lines, gint64 deadline, GError **err)
{
    char chunk[4096];

    for (;;) {
        const char *nl = memchr(lines->buf->str, '\n', lines->buf->len);
        struct pollfd pfd = { .fd = lines->fd, .events = POLLIN };
        ssize_t n;
        int r;

        if (nl) {
            return hlines_take(lines, nl);
        }
        if (lines->eof || lines->fd < 0) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_EXITED,
                        "end of file");
            return NULL;
        }
        r = poll(&pfd, 1, harness_remaining_ms(deadline));
        if (r < 0 && errno != EINTR) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                        "poll: %s", g_strerror(errno));
            return NULL;
        }
        if (r == 0) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT,
                        "timed out waiting for a line");
            return NULL;
        }
        if (r < 0) {
            continue;
        }
        n = read(lines->fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            lines->eof = TRUE;
            continue;
        }
        g_string_append_len(lines->buf, chunk, n);
        if (lines->log) {
            g_string_append_len(lines->log, chunk, n);
        }
    }
}

JsonObject *harness_probe_result(const char *output, const char *sender,
                                 JsonParser *parser)
{
    g_auto(GStrv) lines = g_strsplit(output, "\n", -1);

    for (guint i = 0; lines[i]; i++) {
        JsonObject *o;

        if (!g_str_has_prefix(lines[i], "{") ||
            !json_parser_load_from_data(parser, lines[i], -1, NULL)) {
            continue;
        }
        o = json_node_get_object(json_parser_get_root(parser));
        if (!g_strcmp0(json_object_get_string_member_with_default(
                           o, "sender", NULL), sender)) {
            return o;
        }
    }
    return NULL;
}
