/*
 * main() for a libFuzzer target in a build without libFuzzer: runs the
 * target once on every file named, or in every directory named (the
 * checked-in corpus), and reports each as a TAP test.  A crash or a
 * failed assertion fails the run, as libFuzzer would report it.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"

static int run_file(const char *path, int n)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *data = NULL;
    gsize len;

    if (!g_file_get_contents(path, &data, &len, &error)) {
        printf("not ok %d - %s: %s\n", n, path, error->message);
        return 1;
    }
    LLVMFuzzerTestOneInput((const guint8 *)data, len);
    printf("ok %d - %s (%zu bytes)\n", n, path, len);
    return 0;
}

static gint compare(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
        const char *name;

        if (!dir) {
            g_ptr_array_add(files, g_strdup(argv[i]));
            continue;
        }
        while ((name = g_dir_read_name(dir))) {
            g_ptr_array_add(files, g_build_filename(argv[i], name, NULL));
        }
    }
    g_ptr_array_sort(files, compare);
    printf("1..%u\n", files->len);
    for (guint i = 0; i < files->len; i++) {
        failed |= run_file(files->pdata[i], i + 1);
        fflush(stdout);
    }
    /* An empty corpus tests nothing. */
    return failed || !files->len;
}
