/*
 * [vc] tls = DIR: the certificates the VC's migration streams run over
 * TLS with (docs/security.md), checked when the VC file loads, so that
 * a missing or bad one is the VC file's error and not a QEMU's halfway
 * through a migration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gnutls/x509.h>

#include "vcfile-private.h"

/* The files QEMU's tls-creds-x509 and libvirt's migrate_tls_x509_cert_dir
 * read, in the layout both expect. */
static const struct {
    const char *file;
    gboolean key;
} tls_files[] = {
    { "ca-cert.pem", FALSE },
    { "server-cert.pem", FALSE },
    { "server-key.pem", TRUE },
    { "client-cert.pem", FALSE },
    { "client-key.pem", TRUE },
};

/* Whether @path holds one PEM certificate (or key); *why says not. */
static gboolean tls_pem_ok(const char *path, gboolean key,
                           gnutls_x509_crt_t *crt, char **why)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    gnutls_datum_t data;
    int rc;

    if (!g_file_get_contents(path, &text, NULL, &local)) {
        *why = g_strdup(local->message);
        return FALSE;
    }
    data.data = (unsigned char *)text;
    data.size = strlen(text);
    if (key) {
        gnutls_x509_privkey_t k;

        gnutls_x509_privkey_init(&k);
        rc = gnutls_x509_privkey_import(k, &data, GNUTLS_X509_FMT_PEM);
        gnutls_x509_privkey_deinit(k);
    } else {
        gnutls_x509_crt_init(crt);
        rc = gnutls_x509_crt_import(*crt, &data, GNUTLS_X509_FMT_PEM);
    }
    if (rc < 0) {
        *why = g_strdup_printf("%s: not a PEM %s: %s", path,
                               key ? "private key" : "certificate",
                               gnutls_strerror(rc));
        return FALSE;
    }
    return TRUE;
}

/* The server certificate must name every host's address: a source
 * checks the address it connects to against it. */
static gboolean tls_names_hosts(const LimeviVc *vc, gnutls_x509_crt_t server,
                                const char *path, char **why)
{
    for (guint i = 0; i < vc->hosts->len; i++) {
        const LimeviVcHost *host = vc->hosts->pdata[i];

        if (!gnutls_x509_crt_check_hostname(server, host->address)) {
            *why = g_strdup_printf("%s does not name host %s's address "
                                   "%s", path, host->name, host->address);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean vc_parse_tls(VcParser *p, LimeviVc *vc, GError **error)
{
    g_autofree char *why = NULL;
    gnutls_x509_crt_t certs[G_N_ELEMENTS(tls_files)] = { NULL };
    gboolean ok = TRUE;

    if (!vc_get(p, "vc", "tls", FALSE, &vc->tls, error)) {
        return FALSE;
    }
    if (!vc->tls) {
        return TRUE;
    }
    vc_make_absolute(p, &vc->tls);
    if (!g_file_test(vc->tls, G_FILE_TEST_IS_DIR)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", "tls",
                       "%s is not a directory of certificates", vc->tls);
    }
    for (guint i = 0; ok && i < G_N_ELEMENTS(tls_files); i++) {
        g_autofree char *path = g_build_filename(vc->tls, tls_files[i].file,
                                                 NULL);

        ok = tls_pem_ok(path, tls_files[i].key, &certs[i], &why) &&
             (i != 1 || tls_names_hosts(vc, certs[i], path, &why));
    }
    for (guint i = 0; i < G_N_ELEMENTS(certs); i++) {
        if (certs[i]) {
            gnutls_x509_crt_deinit(certs[i]);
        }
    }
    if (!ok) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", "tls", "%s",
                       why);
    }
    return TRUE;
}
