/* Builds v1 lines and v2 headers; the parser accepts everything written here. */
#include <string.h>

#include "proxy_internal.h"

#define TLV_HEADER 3
#define CRC32C_TLV_SIZE (TLV_HEADER + 4)

/* A bounded writer: once anything does not fit, every later write is refused too. */
struct writer {
    uint8_t *out;
    size_t cap, len;
    bool overflow;
};

static void put(struct writer *w, const void *data, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    if (n)
        memcpy(w->out + w->len, data, n);
    w->len += n;
}

static void put_zeros(struct writer *w, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memset(w->out + w->len, 0, n);
    w->len += n;
}

static void put_be16(struct writer *w, uint16_t v)
{
    uint8_t b[2];
    proxy_put_be16(b, v);
    put(w, b, sizeof b);
}

static void put_tlv(struct writer *w, uint8_t type, const void *value, size_t len)
{
    if (len > UINT16_MAX) {
        w->overflow = true;
        return;
    }
    put(w, &type, 1);
    put_be16(w, (uint16_t)len);
    put(w, value, len);
}

static void put_decimal(struct writer *w, unsigned v)
{
    char digits[10];
    size_t n = 0;
    do {
        digits[sizeof digits - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, digits + sizeof digits - n, n);
}

static void put_ip_text(struct writer *w, const struct proxy_ip *ip)
{
    char text[PROXY_IP_TEXT_MAX];
    put(w, text, proxy_ip_format(ip, text));
}

static int finish(const struct writer *w)
{
    return w->overflow ? -1 : (int)w->len;
}

int proxy_encode_v1(uint8_t *out, size_t cap, const struct proxy_header *hdr)
{
    struct writer w = {.out = out, .cap = cap};
    if (!hdr->has_addresses) {
        put(&w, "PROXY UNKNOWN\r\n", 15);
        return finish(&w);
    }
    /* v1 speaks TCP only: a UDP header written as TCP4/TCP6 would describe another connection. */
    if ((hdr->family != PROXY_FAM_INET && hdr->family != PROXY_FAM_INET6) ||
        hdr->src.family != hdr->family || hdr->dst.family != hdr->family ||
        hdr->transport == PROXY_TRANSPORT_DGRAM)
        return -1;
    put(&w, hdr->family == PROXY_FAM_INET ? "PROXY TCP4 " : "PROXY TCP6 ", 11);
    put_ip_text(&w, &hdr->src);
    put(&w, " ", 1);
    put_ip_text(&w, &hdr->dst);
    put(&w, " ", 1);
    put_decimal(&w, hdr->src_port);
    put(&w, " ", 1);
    put_decimal(&w, hdr->dst_port);
    put(&w, "\r\n", 2);
    if (w.len > PROXY_V1_MAX_LENGTH)
        return -1;
    return finish(&w);
}

/* A PROXY header of the INET, INET6 or UNIX family needs its block; LOCAL may go without. */
static void put_address_block(struct writer *w, const struct proxy_header *hdr)
{
    size_t ip_len = hdr->family == PROXY_FAM_INET ? 4 : 16;
    bool required = hdr->command == PROXY_CMD_PROXY;
    switch (hdr->family) {
    case PROXY_FAM_INET:
    case PROXY_FAM_INET6:
        if (!hdr->has_addresses) {
            w->overflow = w->overflow || required;
            return;
        }
        put(w, hdr->src.addr, ip_len);
        put(w, hdr->dst.addr, ip_len);
        put_be16(w, hdr->src_port);
        put_be16(w, hdr->dst_port);
        return;
    case PROXY_FAM_UNIX:
        if (!hdr->src_unix.ptr) {
            w->overflow = w->overflow || required;
            return;
        }
        for (int i = 0; i < 2; i++) {
            struct proxy_bytes path = i == 0 ? hdr->src_unix : hdr->dst_unix;
            size_t n = path.len < PROXY_UNIX_PATH_LENGTH ? path.len : PROXY_UNIX_PATH_LENGTH;
            put(w, path.ptr, n);
            put_zeros(w, PROXY_UNIX_PATH_LENGTH - n);
        }
        return;
    default:
        return;
    }
}

/* A NOOP TLV filling the header up to pad_to; fails when the gap cannot hold a TLV header. */
static void put_padding(struct writer *w, size_t pad_to, size_t still_to_come)
{
    size_t now = w->len + still_to_come;
    if (pad_to == 0 || pad_to == now)
        return;
    if (pad_to < now + TLV_HEADER || pad_to - now - TLV_HEADER > UINT16_MAX) {
        w->overflow = true;
        return;
    }
    size_t value_len = pad_to - now - TLV_HEADER;
    uint8_t type = PROXY_TLV_NOOP;
    put(w, &type, 1);
    put_be16(w, (uint16_t)value_len);
    put_zeros(w, value_len);
}

int proxy_encode_v2(uint8_t *out, size_t cap, const struct proxy_header *hdr,
                    const struct proxy_tlv *tlvs, size_t ntlvs,
                    const struct proxy_encode_options *opts)
{
    static const struct proxy_encode_options no_options;
    if (!opts)
        opts = &no_options;
    if (hdr->command > PROXY_CMD_PROXY || hdr->family > PROXY_FAM_UNIX ||
        hdr->transport > PROXY_TRANSPORT_DGRAM)
        return -1;
    if (cap > PROXY_V2_MAX_LENGTH)
        cap = PROXY_V2_MAX_LENGTH;
    struct writer w = {.out = out, .cap = cap};
    uint8_t fixed[4] = {(uint8_t)(0x20 | hdr->command),
                        (uint8_t)(hdr->family << 4 | hdr->transport), 0, 0};
    put(&w, proxy_v2_signature, sizeof proxy_v2_signature);
    put(&w, fixed, sizeof fixed);
    put_address_block(&w, hdr);
    for (size_t i = 0; i < ntlvs; i++)
        put_tlv(&w, tlvs[i].type, tlvs[i].value, tlvs[i].len);
    put_padding(&w, opts->pad_to, opts->crc32c ? CRC32C_TLV_SIZE : 0);
    size_t crc_at = w.len + TLV_HEADER;
    if (opts->crc32c)
        put_tlv(&w, PROXY_TLV_CRC32C, "\0\0\0\0", 4);
    if (w.overflow)
        return -1;
    proxy_put_be16(out + 14, (uint16_t)(w.len - PROXY_V2_HEADER_LENGTH));
    if (opts->crc32c)
        proxy_put_be32(out + crc_at, proxy_crc32c(0, out, w.len));
    return finish(&w);
}

int proxy_encode_ssl_value(uint8_t *out, size_t cap, uint8_t client, uint32_t verify,
                           const struct proxy_tlv *subtlvs, size_t nsubtlvs)
{
    struct writer w = {.out = out, .cap = cap};
    uint8_t fixed[5] = {client};
    proxy_put_be32(fixed + 1, verify);
    put(&w, fixed, sizeof fixed);
    for (size_t i = 0; i < nsubtlvs; i++)
        put_tlv(&w, subtlvs[i].type, subtlvs[i].value, subtlvs[i].len);
    return finish(&w);
}
