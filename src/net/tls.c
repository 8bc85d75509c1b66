#include "net/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

#define SELF_SIGNED_DAYS 365
#define CERT_NAMES_MAX 32
#define CERT_NAME_LEN 256

struct tls_certificate {
    SSL_CTX *ctx;
    char names[CERT_NAMES_MAX][CERT_NAME_LEN]; /* DNS names it serves (SAN, else CN) */
    size_t nnames;
};

struct tls_generation {
    atomic_int refs;
    struct tls_certificate certs[TLS_MAX_CERTIFICATES];
    size_t ncerts;
    size_t default_index;
    char description[512];
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio; /* what the peer sent, fed by the connection layer */
    struct tls_generation *gen;
    char error[160];
};

/* ---- errors ---- */

static void openssl_error(char *out, size_t outlen, const char *what)
{
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, outlen, "%s%s%s", what, reason ? ": " : "", reason ? reason : "");
    ERR_clear_error();
}

/* ---- certificates ---- */

static bool name_matches(const char *pattern, const char *host)
{
    if (strcasecmp(pattern, host) == 0)
        return true;
    /* "*.example.com" covers exactly one more label. */
    if (pattern[0] != '*' || pattern[1] != '.')
        return false;
    const char *dot = strchr(host, '.');
    return dot && dot != host && strcasecmp(pattern + 1, dot) == 0;
}

static void add_name(struct tls_certificate *cert, const char *name, size_t len)
{
    if (cert->nnames == CERT_NAMES_MAX || len == 0 || len >= CERT_NAME_LEN)
        return;
    memcpy(cert->names[cert->nnames], name, len);
    cert->names[cert->nnames++][len] = '\0';
}

static void collect_names(struct tls_certificate *cert, X509 *x509)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x509, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS)
            add_name(cert, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
                     (size_t)ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    if (cert->nnames == 0) {
        char cn[CERT_NAME_LEN];
        int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x509), NID_commonName, cn,
                                          sizeof cn);
        if (n > 0)
            add_name(cert, cn, (size_t)n);
    }
}

static int select_certificate(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    struct tls_generation *gen = arg;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!host)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < gen->ncerts; i++) {
        for (size_t j = 0; j < gen->certs[i].nnames; j++) {
            if (name_matches(gen->certs[i].names[j], host)) {
                SSL_set_SSL_CTX(ssl, gen->certs[i].ctx);
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_OK; /* unknown name: the default certificate answers */
}

static SSL_CTX *new_context(const struct tls_settings *settings, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        openssl_error(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, settings->min_version ? settings->min_version
                                                             : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, settings->max_version);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* Partial writes from a moving buffer suit the connection's output queue; idle sessions
     * give their record buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if ((settings->ciphers[0] && !SSL_CTX_set_cipher_list(ctx, settings->ciphers)) ||
        (settings->ciphersuites[0] && !SSL_CTX_set_ciphersuites(ctx, settings->ciphersuites))) {
        openssl_error(err, errlen, "invalid server.tls cipher setting");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static bool load_pem(SSL_CTX *ctx, const struct certificate_config *cc, X509 **leaf, char *err,
                     size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(cc->cert_pem, -1);
    X509 *x509 = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    bool ok = x509 && SSL_CTX_use_certificate(ctx, x509) == 1;
    X509 *extra;
    while (ok && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        ok = SSL_CTX_add0_chain_cert(ctx, extra) == 1;
    BIO_free(bio);
    ERR_clear_error(); /* the chain loop ends on a "no start line" error */
    if (!ok) {
        snprintf(err, errlen, "certificate.%s.cert: not a PEM certificate", cc->id);
        X509_free(x509);
        return false;
    }
    bio = BIO_new_mem_buf(cc->key_pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!ok) {
        openssl_error(err, errlen, "private key missing, unreadable or not matching");
        char detail[256];
        snprintf(detail, sizeof detail, "certificate.%s.private-key: %s", cc->id, err);
        snprintf(err, errlen, "%s", detail);
        X509_free(x509);
        return false;
    }
    *leaf = x509;
    return true;
}

static X509 *make_self_signed(EVP_PKEY *key, const char *hostname)
{
    X509 *x509 = X509_new();
    uint64_t serial;
    if (!x509 || RAND_bytes((unsigned char *)&serial, sizeof serial) != 1)
        goto fail;
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509), serial >> 1);
    X509_set_version(x509, 2);
    X509_gmtime_adj(X509_getm_notBefore(x509), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x509), (long)SELF_SIGNED_DAYS * 86400);
    X509_set_pubkey(x509, key);
    X509_NAME *name = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1,
                               -1, 0);
    X509_set_issuer_name(x509, name);
    char san[CERT_NAME_LEN + 8];
    snprintf(san, sizeof san, "DNS:%s", hostname);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x509, x509, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (!ext || X509_add_ext(x509, ext, -1) != 1 || X509_sign(x509, key, EVP_sha256()) == 0) {
        X509_EXTENSION_free(ext);
        goto fail;
    }
    X509_EXTENSION_free(ext);
    return x509;
fail:
    X509_free(x509);
    return NULL;
}

static bool load_self_signed(SSL_CTX *ctx, const char *hostname, X509 **leaf, char *err,
                             size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x509 = key ? make_self_signed(key, hostname) : NULL;
    bool ok = x509 && SSL_CTX_use_certificate(ctx, x509) == 1 &&
              SSL_CTX_use_PrivateKey(ctx, key) == 1;
    EVP_PKEY_free(key);
    if (!ok) {
        openssl_error(err, errlen, "cannot generate a self-signed certificate");
        X509_free(x509);
        return false;
    }
    *leaf = x509;
    return true;
}

static void generation_free(struct tls_generation *gen)
{
    for (size_t i = 0; i < gen->ncerts; i++)
        SSL_CTX_free(gen->certs[i].ctx);
    free(gen);
}

static bool add_certificate(struct tls_generation *gen, const struct config *config,
                            const struct certificate_config *cc, char *err, size_t errlen)
{
    struct tls_certificate *cert = &gen->certs[gen->ncerts];
    X509 *leaf = NULL;
    cert->ctx = new_context(&config->tls, err, errlen);
    if (!cert->ctx)
        return false;
    bool ok = cc ? load_pem(cert->ctx, cc, &leaf, err, errlen)
                 : load_self_signed(cert->ctx, config->hostname, &leaf, err, errlen);
    if (!ok) {
        SSL_CTX_free(cert->ctx);
        return false;
    }
    collect_names(cert, leaf);
    X509_free(leaf);
    SSL_CTX_set_tlsext_servername_callback(cert->ctx, select_certificate);
    SSL_CTX_set_tlsext_servername_arg(cert->ctx, gen);
    if (cc && cc->is_default)
        gen->default_index = gen->ncerts;
    gen->ncerts++;
    return true;
}

static void describe(struct tls_generation *gen, bool self_signed)
{
    size_t n = (size_t)snprintf(gen->description, sizeof gen->description, "%s%zu certificate%s:",
                                self_signed ? "self-signed, " : "", gen->ncerts,
                                gen->ncerts == 1 ? "" : "s");
    for (size_t i = 0; i < gen->ncerts && n < sizeof gen->description; i++) {
        for (size_t j = 0; j < gen->certs[i].nnames && n < sizeof gen->description; j++)
            n += (size_t)snprintf(gen->description + n, sizeof gen->description - n, " %s",
                                  gen->certs[i].names[j]);
    }
}

struct tls_generation *tls_generation_load(const struct config *config, char *err,
                                           size_t errlen)
{
    struct tls_generation *gen = calloc(1, sizeof *gen);
    if (!gen) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&gen->refs, 1);
    size_t count = config->tls.ncertificates;
    for (size_t i = 0; i < count && i < TLS_MAX_CERTIFICATES; i++) {
        if (!add_certificate(gen, config, &config->tls.certificates[i], err, errlen)) {
            generation_free(gen);
            return NULL;
        }
    }
    if (count == 0 && !add_certificate(gen, config, NULL, err, errlen)) {
        generation_free(gen);
        return NULL;
    }
    describe(gen, count == 0);
    return gen;
}

struct tls_generation *tls_generation_ref(struct tls_generation *gen)
{
    if (gen)
        atomic_fetch_add(&gen->refs, 1);
    return gen;
}

void tls_generation_unref(struct tls_generation *gen)
{
    if (gen && atomic_fetch_sub(&gen->refs, 1) == 1)
        generation_free(gen);
}

const char *tls_generation_describe(const struct tls_generation *gen)
{
    return gen->description;
}

/* ---- the generation in force ---- */

static struct {
    pthread_mutex_t lock;
    struct tls_generation *gen;
} current = {PTHREAD_MUTEX_INITIALIZER, NULL};

void tls_current_set(struct tls_generation *gen)
{
    pthread_mutex_lock(&current.lock);
    struct tls_generation *old = current.gen;
    current.gen = gen;
    pthread_mutex_unlock(&current.lock);
    tls_generation_unref(old); /* connections still using it hold their own references */
}

struct tls_generation *tls_current_acquire(void)
{
    pthread_mutex_lock(&current.lock);
    struct tls_generation *gen = tls_generation_ref(current.gen);
    pthread_mutex_unlock(&current.lock);
    return gen;
}

/* ---- one connection ---- */

struct tls_conn *tls_conn_new(struct tls_generation *gen, int fd)
{
    struct tls_conn *tls = calloc(1, sizeof *tls);
    if (!tls)
        return NULL;
    tls->gen = tls_generation_ref(gen);
    tls->ssl = SSL_new(gen->certs[gen->default_index].ctx);
    tls->rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new_socket(fd, BIO_NOCLOSE);
    if (!tls->ssl || !tls->rbio || !wbio) {
        BIO_free(tls->rbio);
        BIO_free(wbio);
        tls_conn_free(tls);
        return NULL;
    }
    BIO_set_mem_eof_return(tls->rbio, -1); /* an empty buffer means "wait", not end of stream */
    SSL_set_bio(tls->ssl, tls->rbio, wbio);
    SSL_set_accept_state(tls->ssl);
    return tls;
}

void tls_conn_free(struct tls_conn *tls)
{
    if (!tls)
        return;
    SSL_free(tls->ssl); /* frees both BIOs */
    tls_generation_unref(tls->gen);
    free(tls);
}

bool tls_conn_feed(struct tls_conn *tls, const uint8_t *data, size_t len)
{
    size_t written = 0;
    return len == 0 || (BIO_write_ex(tls->rbio, data, len, &written) == 1 && written == len);
}

static enum tls_result classify(struct tls_conn *tls, int ret, const char *what)
{
    switch (SSL_get_error(tls->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(tls->error, sizeof tls->error, "peer sent close_notify");
        return TLS_FAILED;
    default:
        openssl_error(tls->error, sizeof tls->error, what);
        return TLS_FAILED;
    }
}

enum tls_result tls_conn_handshake(struct tls_conn *tls)
{
    ERR_clear_error();
    int ret = SSL_do_handshake(tls->ssl);
    return ret == 1 ? TLS_DONE : classify(tls, ret, "handshake failed");
}

enum tls_result tls_conn_read(struct tls_conn *tls, uint8_t *out, size_t cap, size_t *got)
{
    ERR_clear_error();
    *got = 0;
    int ret = SSL_read_ex(tls->ssl, out, cap, got);
    return ret == 1 ? TLS_DONE : classify(tls, ret, "read failed");
}

bool tls_conn_has_buffered(struct tls_conn *tls)
{
    return SSL_pending(tls->ssl) > 0 || BIO_ctrl_pending(tls->rbio) > 0;
}

enum tls_result tls_conn_write(struct tls_conn *tls, const uint8_t *data, size_t len,
                               size_t *sent)
{
    ERR_clear_error();
    *sent = 0;
    int ret = SSL_write_ex(tls->ssl, data, len, sent);
    return ret == 1 ? TLS_DONE : classify(tls, ret, "write failed");
}

void tls_conn_shutdown(struct tls_conn *tls)
{
    if (SSL_is_init_finished(tls->ssl))
        SSL_shutdown(tls->ssl);
    ERR_clear_error();
}

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void tls_conn_facts(struct tls_conn *tls, struct tls_facts *facts)
{
    facts->origin = TLS_OWN;
    copy_field(facts->version, sizeof facts->version, SSL_get_version(tls->ssl));
    copy_field(facts->cipher, sizeof facts->cipher, SSL_get_cipher_name(tls->ssl));
    X509 *peer = SSL_get0_peer_certificate(tls->ssl);
    facts->client_cert = peer != NULL;
    facts->client_cert_verified = peer && SSL_get_verify_result(tls->ssl) == X509_V_OK;
    facts->client_cn[0] = '\0';
    if (peer)
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, facts->client_cn,
                                  sizeof facts->client_cn);
}

const char *tls_conn_error(const struct tls_conn *tls)
{
    return tls->error[0] ? tls->error : "unknown TLS error";
}

const char *tls_conn_server_name(struct tls_conn *tls)
{
    return SSL_get_servername(tls->ssl, TLSEXT_NAMETYPE_host_name);
}
