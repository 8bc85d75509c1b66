/* certificate.<id>.* and server.tls.*: checked at load time, so `postern check` catches a bad
 * certificate or key instead of the first TLS client. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

struct certificate_draft {
    char id[CONFIG_ID_MAX];
    char cert[CONFIG_CERT_PEM_MAX];
    char key[CONFIG_CERT_PEM_MAX];
    bool is_default;
};

#define DRAFT_FIELD(field) .offset = offsetof(struct certificate_draft, field)
#define DRAFT_TEXT(field) DRAFT_FIELD(field), .size = sizeof(((struct certificate_draft *)0)->field)

static const struct key_spec certificate_keys[] = {
    /* PEM text, usually "%{file:/etc/postern/cert.pem}%": the certificate, then its chain */
    {"cert", KEY_TEXT, DRAFT_TEXT(cert), .required = true},
    {"private-key", KEY_TEXT, DRAFT_TEXT(key), .required = true, .secret = true},
    /* served when the client's SNI names no certificate */
    {"default", KEY_BOOL, DRAFT_FIELD(is_default)},
};

static void set_certificate_id(void *item, const char *id, size_t len)
{
    struct certificate_draft *draft = item;
    size_t n = len < sizeof draft->id - 1 ? len : sizeof draft->id - 1;
    memcpy(draft->id, id, n);
    draft->id[n] = '\0';
}

/* NULL when the PEM texts hold a certificate and its matching key; else why not. */
static const char *pem_problem(const struct certificate_draft *draft, bool *key_side)
{
    const char *problem = NULL;
    BIO *cert_bio = BIO_new_mem_buf(draft->cert, -1);
    BIO *key_bio = BIO_new_mem_buf(draft->key, -1);
    X509 *x509 = cert_bio ? PEM_read_bio_X509(cert_bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = key_bio ? PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL) : NULL;
    *key_side = false;
    if (!x509) {
        problem = "not a PEM certificate";
    } else if (!key) {
        problem = "not a PEM private key";
        *key_side = true;
    } else if (X509_check_private_key(x509, key) != 1) {
        problem = "does not match the certificate";
        *key_side = true;
    }
    X509_free(x509);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    ERR_clear_error();
    return problem;
}

static void finish_certificate(struct loader *ld, void *item, const struct toml_value *table,
                               const struct key_path *path, bool clean)
{
    struct certificate_draft *draft = item;
    struct tls_settings *tls = &ld->config->tls;
    size_t line = toml_position(table).line;
    if (!clean)
        return;
    bool key_side;
    const char *problem = pem_problem(draft, &key_side);
    if (problem) {
        config_error(ld, line, path->text, "%s: %s", key_side ? "private-key" : "cert", problem);
        return;
    }
    if (tls->ncertificates == CONFIG_MAX_CERTIFICATES) {
        config_error(ld, line, path->text, "more than %d certificates", CONFIG_MAX_CERTIFICATES);
        return;
    }
    struct certificate_config *grown =
        realloc(tls->certificates, (tls->ncertificates + 1) * sizeof *grown);
    if (!grown) {
        config_error(ld, line, path->text, "out of memory");
        return;
    }
    tls->certificates = grown;
    struct certificate_config *cc = &grown[tls->ncertificates];
    memset(cc, 0, sizeof *cc);
    memcpy(cc->id, draft->id, sizeof cc->id);
    cc->cert_pem = strdup(draft->cert);
    cc->key_pem = strdup(draft->key);
    cc->is_default = draft->is_default;
    tls->ncertificates++;
    if (!cc->cert_pem || !cc->key_pem)
        config_error(ld, line, path->text, "out of memory");
}

static void release_certificate(void *item)
{
    struct certificate_draft *draft = item;
    explicit_bzero(draft->key, sizeof draft->key);
}

const struct table_array config_certificate_tables = {
    .keys = certificate_keys,
    .nkeys = sizeof certificate_keys / sizeof certificate_keys[0],
    .item_size = sizeof(struct certificate_draft),
    .finish = finish_certificate,
    .release = release_certificate,
    .set_id = set_certificate_id,
};

static const struct {
    const char *name;
    int version;
} tls_protocols[] = {
    {"TLSv1", TLS1_VERSION},
    {"TLSv1.1", TLS1_1_VERSION},
    {"TLSv1.2", TLS1_2_VERSION},
    {"TLSv1.3", TLS1_3_VERSION},
};

static int protocol_version(const char *name)
{
    for (size_t i = 0; i < sizeof tls_protocols / sizeof tls_protocols[0]; i++) {
        if (strcmp(tls_protocols[i].name, name) == 0)
            return tls_protocols[i].version;
    }
    return 0;
}

const char *config_check_tls_protocol(const char *text)
{
    return protocol_version(text) ? NULL
                                  : "expected \"TLSv1.2\" or \"TLSv1.3\" (or \"TLSv1\", \"TLSv1.1\")";
}

static void resolve_protocols(struct loader *ld)
{
    struct config *config = ld->config;
    struct tls_settings *tls = &config->tls;
    const struct text_list *list = &config->tls_protocols;
    if (list->count == 0) {
        tls->min_version = TLS1_2_VERSION;
        tls->max_version = TLS1_3_VERSION;
        snprintf(tls->protocols, sizeof tls->protocols, "TLSv1.2, TLSv1.3");
        return;
    }
    size_t n = 0;
    tls->protocols[0] = '\0';
    for (size_t i = 0; i < list->count; i++) {
        int v = protocol_version(list->items[i]);
        if (!tls->min_version || v < tls->min_version)
            tls->min_version = v;
        if (v > tls->max_version)
            tls->max_version = v;
        n += (size_t)snprintf(tls->protocols + n, n < sizeof tls->protocols
                                                      ? sizeof tls->protocols - n : 0,
                              "%s%s", i ? ", " : "", list->items[i]);
    }
}

void config_finish_tls(struct loader *ld)
{
    resolve_protocols(ld);
    const struct tls_settings *tls = &ld->config->tls;
    size_t defaults = 0;
    for (size_t i = 0; i < tls->ncertificates; i++)
        defaults += tls->certificates[i].is_default;
    if (defaults > 1)
        config_error(ld, 0, "certificate", "more than one certificate has default = true");
}

void config_free_tls(struct config *config)
{
    for (size_t i = 0; i < config->tls.ncertificates; i++) {
        struct certificate_config *cc = &config->tls.certificates[i];
        if (cc->key_pem)
            explicit_bzero(cc->key_pem, strlen(cc->key_pem));
        free(cc->cert_pem);
        free(cc->key_pem);
    }
    free(config->tls.certificates);
    text_list_free(&config->tls_protocols);
}
