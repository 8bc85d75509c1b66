/* Version detection, error texts and TLV iteration: what v1 and v2 share. */
#include <string.h>

#include "proxy_internal.h"

const uint8_t proxy_v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_signature[6] = "PROXY ";

/* buf starts with the signature, or with as much of it as has arrived. The common complete
 * case is a fixed-size compare, which compiles to a few loads instead of a library call. */
static inline __attribute__((always_inline)) bool starts_like(const uint8_t *buf, size_t len,
                                                              const void *sig, size_t sig_len)
{
    if (len >= sig_len)
        return memcmp(buf, sig, sig_len) == 0;
    return memcmp(buf, sig, len) == 0;
}

int proxy_parse(const uint8_t *buf, size_t len, const struct proxy_parse_options *opts,
                struct proxy_header *hdr)
{
    uint32_t max_length = opts && opts->max_length ? opts->max_length : PROXY_DEFAULT_MAX_LENGTH;
    if (max_length > PROXY_V2_MAX_LENGTH)
        max_length = PROXY_V2_MAX_LENGTH;
    hdr->error = PROXY_OK;
    if (len == 0)
        return PROXY_NEED_MORE;

    /* Decide on the bytes present so far, so garbage is refused without waiting for more. */
    if (buf[0] == 'P') {
        if (!starts_like(buf, len, v1_signature, sizeof v1_signature))
            return proxy_fail(hdr, PROXY_ERR_NOT_PROXY);
        if (len < sizeof v1_signature)
            return PROXY_NEED_MORE;
        return proxy_parse_v1(buf, len, max_length, hdr);
    }
    if (buf[0] == proxy_v2_signature[0]) {
        if (!starts_like(buf, len, proxy_v2_signature, sizeof proxy_v2_signature))
            return proxy_fail(hdr, PROXY_ERR_NOT_PROXY);
        if (len < sizeof proxy_v2_signature)
            return PROXY_NEED_MORE;
        return proxy_parse_v2(buf, len, max_length, hdr);
    }
    return proxy_fail(hdr, PROXY_ERR_NOT_PROXY);
}

static const struct {
    const char *name;
    const char *message;
} error_texts[PROXY_ERR__COUNT] = {
    [PROXY_OK] = {"ok", "valid header"},
    [PROXY_ERR_NOT_PROXY] = {"not_proxy", "not a PROXY protocol header"},
    [PROXY_ERR_V1_TOO_LONG] = {"v1_too_long", "v1 header longer than 107 bytes"},
    [PROXY_ERR_V1_LINE_END] = {"v1_line_end", "v1 header has a lone CR or LF, or a control byte"},
    [PROXY_ERR_V1_SEPARATOR] = {"v1_separator", "v1 fields must be separated by one space"},
    [PROXY_ERR_V1_FAMILY] = {"v1_family", "v1 protocol is not TCP4, TCP6 or UNKNOWN"},
    [PROXY_ERR_V1_SRC_ADDR] = {"v1_src_addr", "v1 source address is invalid for the protocol"},
    [PROXY_ERR_V1_DST_ADDR] = {"v1_dst_addr",
                               "v1 destination address is invalid for the protocol"},
    [PROXY_ERR_V1_SRC_PORT] = {"v1_src_port", "v1 source port is not 0-65535"},
    [PROXY_ERR_V1_DST_PORT] = {"v1_dst_port", "v1 destination port is not 0-65535"},
    [PROXY_ERR_V1_MISSING_FIELD] = {"v1_missing_field", "v1 header ends before its last field"},
    [PROXY_ERR_V1_TRAILING] = {"v1_trailing", "v1 header has data after the destination port"},
    [PROXY_ERR_V2_VERSION] = {"v2_version", "v2 version is not 2"},
    [PROXY_ERR_V2_COMMAND] = {"v2_command", "v2 command is neither LOCAL nor PROXY"},
    [PROXY_ERR_V2_FAMILY] = {"v2_family", "v2 address family/transport byte is invalid"},
    [PROXY_ERR_TOO_LARGE] = {"too_large", "header is larger than the configured maximum"},
    [PROXY_ERR_V2_ADDR_TRUNCATED] = {"v2_addr_truncated",
                                     "v2 length is shorter than the address block"},
    [PROXY_ERR_V2_TLV_TRUNCATED] = {"v2_tlv_truncated", "v2 TLV runs past the header end"},
    [PROXY_ERR_V2_TLV_LENGTH] = {"v2_tlv_length", "v2 TLV has a length its type forbids"},
    [PROXY_ERR_V2_TLV_DUPLICATE] = {"v2_tlv_duplicate", "v2 TLV appears more than once"},
    [PROXY_ERR_V2_SSL] = {"v2_ssl", "v2 SSL TLV is malformed"},
    [PROXY_ERR_V2_CRC32C] = {"v2_crc32c", "v2 CRC32C does not match the header"},
};

const char *proxy_error_message(enum proxy_error error)
{
    if ((unsigned)error >= PROXY_ERR__COUNT)
        return "unknown error";
    return error_texts[error].message;
}

const char *proxy_error_name(enum proxy_error error)
{
    if ((unsigned)error >= PROXY_ERR__COUNT)
        return "unknown";
    return error_texts[error].name;
}

void proxy_tlv_iter_init(struct proxy_tlv_iter *it, struct proxy_bytes area)
{
    it->pos = area.ptr;
    it->end = area.ptr ? area.ptr + area.len : NULL;
}

bool proxy_tlv_next(struct proxy_tlv_iter *it, struct proxy_tlv *tlv)
{
    if (!it->pos || it->end - it->pos < 3)
        return false;
    uint16_t len = proxy_be16(it->pos + 1);
    if (len > it->end - it->pos - 3)
        return false;
    tlv->type = it->pos[0];
    tlv->len = len;
    tlv->value = it->pos + 3;
    it->pos += 3 + (size_t)len;
    return true;
}
