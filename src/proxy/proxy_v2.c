/*
 * PROXY v2: 12-byte signature, version/command, family/transport, big-endian length, address
 * block, TLVs. Every length is checked against the header end before it is used.
 */
#include <string.h>

#include "proxy_internal.h"

#define V2_VERSION 2
#define INET_BLOCK 12
#define INET6_BLOCK 36
#define UNIX_BLOCK 216
#define TLV_HEADER 3
#define SSL_FIXED_PART 5 /* client flags (1) + verify (4) */
#define CRC32C_LENGTH 4
#define GCP_PSC_ID_LENGTH 8
#define AZURE_LINK_ID_VALUE 5 /* subtype + little-endian u32 */

static bool valid_family_byte(uint8_t fam)
{
    switch (fam) {
    case 0x00: case 0x11: case 0x12: case 0x21: case 0x22: case 0x31: case 0x32:
        return true;
    default:
        return false;
    }
}

/* Checks the fixed part on whatever of it has arrived, so bad bytes fail before the rest. */
static int check_fixed_part(const uint8_t *buf, size_t len, uint32_t max_length,
                            struct proxy_header *hdr)
{
    if (len > 12) {
        if (buf[12] >> 4 != V2_VERSION)
            return proxy_fail(hdr, PROXY_ERR_V2_VERSION);
        if ((buf[12] & 0x0F) > PROXY_CMD_PROXY)
            return proxy_fail(hdr, PROXY_ERR_V2_COMMAND);
    }
    if (len > 13 && !valid_family_byte(buf[13]))
        return proxy_fail(hdr, PROXY_ERR_V2_FAMILY);
    if (len < PROXY_V2_HEADER_LENGTH)
        return PROXY_NEED_MORE;
    uint32_t total = PROXY_V2_HEADER_LENGTH + (uint32_t)proxy_be16(buf + 14);
    if (total > max_length)
        return proxy_fail(hdr, PROXY_ERR_TOO_LARGE);
    if (len < total)
        return PROXY_NEED_MORE;
    return 0;
}

static struct proxy_bytes bytes_at(const uint8_t *p, size_t len)
{
    return (struct proxy_bytes){.ptr = p, .len = (uint16_t)len};
}

static void read_addresses(const uint8_t *block, struct proxy_header *hdr)
{
    switch (hdr->family) {
    case PROXY_FAM_INET:
        hdr->src.family = hdr->dst.family = PROXY_FAM_INET;
        memcpy(hdr->src.addr, block, 4);
        memcpy(hdr->dst.addr, block + 4, 4);
        hdr->src_port = proxy_be16(block + 8);
        hdr->dst_port = proxy_be16(block + 10);
        hdr->has_addresses = true;
        break;
    case PROXY_FAM_INET6:
        hdr->src.family = hdr->dst.family = PROXY_FAM_INET6;
        memcpy(hdr->src.addr, block, 16);
        memcpy(hdr->dst.addr, block + 16, 16);
        hdr->src_port = proxy_be16(block + 32);
        hdr->dst_port = proxy_be16(block + 34);
        hdr->has_addresses = true;
        break;
    case PROXY_FAM_UNIX:
        hdr->src_unix = bytes_at(block, PROXY_UNIX_PATH_LENGTH);
        hdr->dst_unix = bytes_at(block + PROXY_UNIX_PATH_LENGTH, PROXY_UNIX_PATH_LENGTH);
        break;
    }
}

static size_t address_block_size(uint8_t family)
{
    static const size_t sizes[] = {0, INET_BLOCK, INET6_BLOCK, UNIX_BLOCK};
    return sizes[family & 3];
}

/* Stores a singleton TLV's value; a second occurrence would make the header ambiguous. */
static enum proxy_error set_once(struct proxy_bytes *field, const struct proxy_tlv *tlv)
{
    if (field->ptr)
        return PROXY_ERR_V2_TLV_DUPLICATE;
    *field = bytes_at(tlv->value, tlv->len);
    return PROXY_OK;
}

static enum proxy_error read_ssl_subtlv(struct proxy_ssl *ssl, const struct proxy_tlv *sub)
{
    struct proxy_bytes *field;
    switch (sub->type) {
    case PROXY_TLV_SSL_VERSION: field = &ssl->version; break;
    case PROXY_TLV_SSL_CN: field = &ssl->cn; break;
    case PROXY_TLV_SSL_CIPHER: field = &ssl->cipher; break;
    case PROXY_TLV_SSL_SIG_ALG: field = &ssl->sig_alg; break;
    case PROXY_TLV_SSL_KEY_ALG: field = &ssl->key_alg; break;
    case PROXY_TLV_SSL_GROUP: field = &ssl->group; break;
    case PROXY_TLV_SSL_SIG_SCHEME: field = &ssl->sig_scheme; break;
    case PROXY_TLV_SSL_CLIENT_CERT: field = &ssl->client_cert; break;
    default: return PROXY_OK; /* unknown sub-TLVs stay reachable through the iterator */
    }
    return set_once(field, sub);
}

/* Walks a TLV area, calling visit for each; fails if the TLVs do not end exactly at the end. */
typedef enum proxy_error (*tlv_visitor)(void *ctx, const struct proxy_tlv *tlv);

static enum proxy_error walk_tlvs(const uint8_t *p, const uint8_t *end, enum proxy_error truncated,
                                  tlv_visitor visit, void *ctx)
{
    while (p < end) {
        if (end - p < TLV_HEADER)
            return truncated;
        struct proxy_tlv tlv = {.type = p[0], .len = proxy_be16(p + 1), .value = p + TLV_HEADER};
        if (tlv.len > end - tlv.value)
            return truncated;
        enum proxy_error err = visit(ctx, &tlv);
        if (err != PROXY_OK)
            return err;
        p = tlv.value + tlv.len;
    }
    return PROXY_OK;
}

static enum proxy_error visit_ssl_subtlv(void *ctx, const struct proxy_tlv *tlv)
{
    return read_ssl_subtlv(ctx, tlv);
}

static enum proxy_error read_ssl(struct proxy_ssl *ssl, const struct proxy_tlv *tlv)
{
    if (ssl->present)
        return PROXY_ERR_V2_TLV_DUPLICATE;
    if (tlv->len < SSL_FIXED_PART)
        return PROXY_ERR_V2_SSL;
    ssl->present = true;
    ssl->client = tlv->value[0];
    ssl->verify = proxy_be32(tlv->value + 1);
    ssl->subtlvs = bytes_at(tlv->value + SSL_FIXED_PART, tlv->len - SSL_FIXED_PART);
    return walk_tlvs(ssl->subtlvs.ptr, ssl->subtlvs.ptr + ssl->subtlvs.len, PROXY_ERR_V2_SSL,
                     visit_ssl_subtlv, ssl);
}

/*
 * Vendor TLVs live in the custom range (0xE0-0xEF), which other software may use differently:
 * decode them only when they have the vendor's exact shape, keep them raw otherwise, first wins.
 */
static void read_vendor(struct proxy_tlvs *t, const struct proxy_tlv *tlv)
{
    const uint8_t *v = tlv->value;
    if (tlv->type == PROXY_TLV_GCP && tlv->len == GCP_PSC_ID_LENGTH && !t->has_gcp_psc_id) {
        t->has_gcp_psc_id = true;
        t->gcp_psc_id = (uint64_t)proxy_be32(v) << 32 | proxy_be32(v + 4);
    } else if (tlv->type == PROXY_TLV_AWS && tlv->len >= 1 && v[0] == PROXY_AWS_SUBTYPE_VPCE_ID &&
               !t->aws_vpce_id.ptr) {
        t->aws_vpce_id = bytes_at(v + 1, tlv->len - 1u);
    } else if (tlv->type == PROXY_TLV_AZURE && tlv->len == AZURE_LINK_ID_VALUE &&
               v[0] == PROXY_AZURE_SUBTYPE_LINK_ID && !t->has_azure_link_id) {
        t->has_azure_link_id = true;
        t->azure_link_id = (uint32_t)v[1] | (uint32_t)v[2] << 8 | (uint32_t)v[3] << 16 |
                           (uint32_t)v[4] << 24;
    }
}

struct tlv_context {
    struct proxy_tlvs *tlvs;
    const uint8_t *crc_value; /* where the CRC32C value sits, for verification */
};

static enum proxy_error visit_tlv(void *ctx_, const struct proxy_tlv *tlv)
{
    struct tlv_context *ctx = ctx_;
    struct proxy_tlvs *t = ctx->tlvs;
    switch (tlv->type) {
    case PROXY_TLV_ALPN:
        return set_once(&t->alpn, tlv);
    case PROXY_TLV_AUTHORITY:
        return tlv->len > PROXY_AUTHORITY_MAX ? PROXY_ERR_V2_TLV_LENGTH : set_once(&t->authority, tlv);
    case PROXY_TLV_CRC32C:
        if (tlv->len != CRC32C_LENGTH)
            return PROXY_ERR_V2_TLV_LENGTH;
        if (ctx->crc_value)
            return PROXY_ERR_V2_TLV_DUPLICATE;
        ctx->crc_value = tlv->value;
        return PROXY_OK;
    case PROXY_TLV_UNIQUE_ID:
        return tlv->len > PROXY_UNIQUE_ID_MAX ? PROXY_ERR_V2_TLV_LENGTH
                                              : set_once(&t->unique_id, tlv);
    case PROXY_TLV_SSL:
        return read_ssl(&t->ssl, tlv);
    case PROXY_TLV_NETNS:
        return set_once(&t->netns, tlv);
    case PROXY_TLV_GCP:
    case PROXY_TLV_AWS:
    case PROXY_TLV_AZURE:
        read_vendor(t, tlv);
        return PROXY_OK;
    default: /* NOOP, reserved and custom types: reachable through the iterator */
        return PROXY_OK;
    }
}

/* The CRC32C covers the whole header with the CRC32C value itself taken as zero. */
static bool crc32c_matches(const uint8_t *header, size_t total, const uint8_t *crc_value)
{
    static const uint8_t zeros[CRC32C_LENGTH];
    size_t before = (size_t)(crc_value - header);
    uint32_t crc = proxy_crc32c(0, header, before);
    crc = proxy_crc32c(crc, zeros, sizeof zeros);
    crc = proxy_crc32c(crc, crc_value + CRC32C_LENGTH, total - before - CRC32C_LENGTH);
    return crc == proxy_be32(crc_value);
}

static int read_tlvs(const uint8_t *buf, uint32_t total, struct proxy_header *hdr)
{
    struct tlv_context ctx = {.tlvs = &hdr->tlv};
    const uint8_t *area = hdr->tlv_area.ptr;
    enum proxy_error err = walk_tlvs(area, area + hdr->tlv_area.len, PROXY_ERR_V2_TLV_TRUNCATED,
                                     visit_tlv, &ctx);
    if (err != PROXY_OK)
        return proxy_fail(hdr, err);
    if (ctx.crc_value) {
        if (!crc32c_matches(buf, total, ctx.crc_value))
            return proxy_fail(hdr, PROXY_ERR_V2_CRC32C);
        hdr->tlv.has_crc32c = true;
        hdr->tlv.crc32c = proxy_be32(ctx.crc_value);
    }
    return 0;
}

int proxy_parse_v2(const uint8_t *buf, size_t len, uint32_t max_length, struct proxy_header *hdr)
{
    int rc = check_fixed_part(buf, len, max_length, hdr);
    if (rc != 0)
        return rc;
    uint32_t total = PROXY_V2_HEADER_LENGTH + (uint32_t)proxy_be16(buf + 14);
    proxy_clear_header(hdr);
    hdr->version = V2_VERSION;
    hdr->command = buf[12] & 0x0F;
    hdr->family = buf[13] >> 4;
    hdr->transport = buf[13] & 0x0F;
    hdr->length = total;

    /* LOCAL (health checks) and UNSPEC: use the socket's endpoints, skip the whole block. */
    if (hdr->command == PROXY_CMD_LOCAL || hdr->family == PROXY_FAM_UNSPEC)
        return (int)total;

    const uint8_t *block = buf + PROXY_V2_HEADER_LENGTH;
    size_t block_size = address_block_size(hdr->family);
    if (total - PROXY_V2_HEADER_LENGTH < block_size)
        return proxy_fail(hdr, PROXY_ERR_V2_ADDR_TRUNCATED);
    read_addresses(block, hdr);
    hdr->tlv_area = bytes_at(block + block_size, total - PROXY_V2_HEADER_LENGTH - block_size);
    if (hdr->tlv_area.len != 0 && (rc = read_tlvs(buf, total, hdr)) != 0)
        return rc;
    return (int)total;
}
