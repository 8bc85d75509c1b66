/*
 * libFuzzer target for proxy_parse(). Properties checked on every input:
 *  - a complete header never claims more bytes than were given;
 *  - every shorter prefix of a complete header is PROXY_NEED_MORE (split reads are safe);
 *  - decode(encode(decode(x))) describes the same connection as decode(x).
 */
#include <stdlib.h>
#include <string.h>

#include "postern/proxy.h"
#include "fuzz_util.h"

#define MAX_TLVS (PROXY_V2_MAX_LENGTH / 3) /* every TLV takes at least 3 bytes */

static bool same_bytes(struct proxy_bytes a, struct proxy_bytes b)
{
    if (!a.ptr || !b.ptr)
        return !a.ptr && !b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static bool same_ssl(const struct proxy_ssl *a, const struct proxy_ssl *b)
{
    return a->present == b->present && a->client == b->client && a->verify == b->verify &&
           same_bytes(a->version, b->version) && same_bytes(a->cn, b->cn) &&
           same_bytes(a->cipher, b->cipher) && same_bytes(a->sig_alg, b->sig_alg) &&
           same_bytes(a->key_alg, b->key_alg) && same_bytes(a->group, b->group) &&
           same_bytes(a->sig_scheme, b->sig_scheme) && same_bytes(a->client_cert, b->client_cert);
}

static bool same_connection(const struct proxy_header *a, const struct proxy_header *b)
{
    if (a->version != b->version || a->command != b->command || a->family != b->family ||
        a->transport != b->transport || a->has_addresses != b->has_addresses)
        return false;
    if (a->has_addresses &&
        (memcmp(&a->src, &b->src, sizeof a->src) != 0 ||
         memcmp(&a->dst, &b->dst, sizeof a->dst) != 0 || a->src_port != b->src_port ||
         a->dst_port != b->dst_port))
        return false;
    const struct proxy_tlvs *x = &a->tlv, *y = &b->tlv;
    return same_bytes(a->src_unix, b->src_unix) && same_bytes(a->dst_unix, b->dst_unix) &&
           same_bytes(x->alpn, y->alpn) && same_bytes(x->authority, y->authority) &&
           same_bytes(x->unique_id, y->unique_id) && same_bytes(x->netns, y->netns) &&
           same_bytes(x->aws_vpce_id, y->aws_vpce_id) && x->has_crc32c == y->has_crc32c &&
           x->has_azure_link_id == y->has_azure_link_id &&
           x->azure_link_id == y->azure_link_id && x->has_gcp_psc_id == y->has_gcp_psc_id &&
           x->gcp_psc_id == y->gcp_psc_id && same_ssl(&x->ssl, &y->ssl);
}

static int reencode(const struct proxy_header *h, uint8_t *out, size_t cap)
{
    if (h->version == 1)
        return proxy_encode_v1(out, cap, h);
    static struct proxy_tlv tlvs[MAX_TLVS];
    size_t n = 0;
    struct proxy_tlv_iter it;
    struct proxy_tlv tlv;
    proxy_tlv_iter_init(&it, h->tlv_area);
    while (proxy_tlv_next(&it, &tlv)) {
        if (tlv.type != PROXY_TLV_CRC32C) /* written afresh over the new header */
            tlvs[n++] = tlv;
    }
    struct proxy_encode_options opts = {.crc32c = h->tlv.has_crc32c};
    return proxy_encode_v2(out, cap, h, tlvs, n, &opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t encoded[PROXY_V2_MAX_LENGTH];
    struct proxy_parse_options opts = {.max_length = PROXY_V2_MAX_LENGTH};
    struct proxy_header h, again;
    int rc = proxy_parse(data, size, &opts, &h);
    CHECK(rc > 0 || rc == PROXY_NEED_MORE || rc == PROXY_INVALID);
    if (rc == PROXY_INVALID)
        CHECK(h.error != PROXY_OK && proxy_error_message(h.error)[0]);
    if (rc <= 0)
        return 0;
    CHECK((size_t)rc <= size && h.length == (uint32_t)rc);

    /* The header cut anywhere short of its end must wait for more, not fail or complete. */
    CHECK(proxy_parse(data, (size_t)rc - 1, &opts, &again) == PROXY_NEED_MORE);
    CHECK(proxy_parse(data, (size_t)rc / 2, &opts, &again) == PROXY_NEED_MORE);

    CHECK(h.version == 2 || rc <= PROXY_V1_MAX_LENGTH);
    int n = reencode(&h, encoded, sizeof encoded);
    CHECK(n > 0);
    CHECK(proxy_parse(encoded, (size_t)n, &opts, &again) == n);
    CHECK(same_connection(&h, &again));
    return 0;
}
