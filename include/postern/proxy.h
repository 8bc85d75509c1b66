/*
 * postern PROXY protocol codec (HAProxy PROXY protocol v1 and v2).
 *
 * Pure: no I/O, no allocation, no global state. Decoded fields point into the caller's buffer,
 * which must outlive the header struct. Safe for any split of a header across reads: call
 * proxy_parse() again with everything received so far.
 */
#ifndef POSTERN_PROXY_H
#define POSTERN_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return values of proxy_parse() besides a positive header length. */
#define PROXY_INVALID (-1)   /* not a valid header; hdr->error says why */
#define PROXY_NEED_MORE (-2) /* a valid prefix: read more bytes and call again */

#define PROXY_V1_MAX_LENGTH 107     /* spec: worst case line, CRLF included */
#define PROXY_V2_HEADER_LENGTH 16   /* signature, ver/cmd, fam, len */
#define PROXY_V2_MAX_LENGTH 65551   /* 16 + UINT16_MAX */
#define PROXY_DEFAULT_MAX_LENGTH 4096
#define PROXY_UNIX_PATH_LENGTH 108
#define PROXY_AUTHORITY_MAX 255
#define PROXY_UNIQUE_ID_MAX 128
#define PROXY_IP_TEXT_MAX 46        /* longest IPv6 text, with NUL */

extern const uint8_t proxy_v2_signature[12];

enum proxy_command {
    PROXY_CMD_LOCAL = 0,
    PROXY_CMD_PROXY = 1,
};

enum proxy_family {
    PROXY_FAM_UNSPEC = 0,
    PROXY_FAM_INET = 1,
    PROXY_FAM_INET6 = 2,
    PROXY_FAM_UNIX = 3,
};

enum proxy_transport {
    PROXY_TRANSPORT_UNSPEC = 0,
    PROXY_TRANSPORT_STREAM = 1,
    PROXY_TRANSPORT_DGRAM = 2,
};

enum proxy_tlv_type {
    PROXY_TLV_ALPN = 0x01,
    PROXY_TLV_AUTHORITY = 0x02,
    PROXY_TLV_CRC32C = 0x03,
    PROXY_TLV_NOOP = 0x04,
    PROXY_TLV_UNIQUE_ID = 0x05,
    PROXY_TLV_SSL = 0x20,
    PROXY_TLV_SSL_VERSION = 0x21,
    PROXY_TLV_SSL_CN = 0x22,
    PROXY_TLV_SSL_CIPHER = 0x23,
    PROXY_TLV_SSL_SIG_ALG = 0x24,
    PROXY_TLV_SSL_KEY_ALG = 0x25,
    PROXY_TLV_SSL_GROUP = 0x26,
    PROXY_TLV_SSL_SIG_SCHEME = 0x27,
    PROXY_TLV_SSL_CLIENT_CERT = 0x28,
    PROXY_TLV_NETNS = 0x30,
    PROXY_TLV_GCP = 0xE0,
    PROXY_TLV_AWS = 0xEA,
    PROXY_TLV_AZURE = 0xEE,
};

/* Client flags carried by the SSL TLV. */
#define PROXY_SSL_CLIENT_SSL 0x01
#define PROXY_SSL_CLIENT_CERT_CONN 0x02
#define PROXY_SSL_CLIENT_CERT_SESS 0x04

/* Vendor TLV subtypes. */
#define PROXY_AWS_SUBTYPE_VPCE_ID 0x01
#define PROXY_AZURE_SUBTYPE_LINK_ID 0x01

enum proxy_error {
    PROXY_OK = 0,
    PROXY_ERR_NOT_PROXY,          /* neither v1 "PROXY " nor the v2 signature */
    PROXY_ERR_V1_TOO_LONG,        /* no CRLF within 107 bytes */
    PROXY_ERR_V1_LINE_END,        /* lone CR or LF, or a control byte in a TCP4/TCP6 line */
    PROXY_ERR_V1_SEPARATOR,       /* fields not separated by exactly one space */
    PROXY_ERR_V1_FAMILY,          /* protocol is not TCP4, TCP6 or UNKNOWN */
    PROXY_ERR_V1_SRC_ADDR,        /* source address invalid or of the wrong family */
    PROXY_ERR_V1_DST_ADDR,
    PROXY_ERR_V1_SRC_PORT,        /* port not 0-65535 in plain decimal */
    PROXY_ERR_V1_DST_PORT,
    PROXY_ERR_V1_MISSING_FIELD,   /* line ends before the destination port */
    PROXY_ERR_V1_TRAILING,        /* something after the destination port */
    PROXY_ERR_V2_VERSION,         /* version nibble is not 2 */
    PROXY_ERR_V2_COMMAND,         /* command is neither LOCAL nor PROXY */
    PROXY_ERR_V2_FAMILY,          /* family/transport byte not one of the seven valid ones */
    PROXY_ERR_TOO_LARGE,          /* header longer than the caller's maximum */
    PROXY_ERR_V2_ADDR_TRUNCATED,  /* length shorter than the family's address block */
    PROXY_ERR_V2_TLV_TRUNCATED,   /* a TLV runs past the end of the header */
    PROXY_ERR_V2_TLV_LENGTH,      /* a known TLV has a length its type does not allow */
    PROXY_ERR_V2_TLV_DUPLICATE,   /* a known TLV appears twice */
    PROXY_ERR_V2_SSL,             /* SSL TLV shorter than its fixed part or bad sub-TLVs */
    PROXY_ERR_V2_CRC32C,          /* CRC32C TLV does not match the header */
    PROXY_ERR__COUNT
};

/* A byte string inside the parsed buffer; ptr is NULL when absent. Not NUL-terminated. */
struct proxy_bytes {
    const uint8_t *ptr;
    uint16_t len;
};

struct proxy_ssl {
    bool present;
    uint8_t client;            /* PROXY_SSL_CLIENT_* flags */
    uint32_t verify;           /* 0: client certificate verified */
    struct proxy_bytes version, cn, cipher, sig_alg, key_alg, group, sig_scheme, client_cert;
    struct proxy_bytes subtlvs; /* the raw sub-TLV area, for proxy_tlv_iter */
};

/* Known TLVs, decoded. Every TLV is also reachable through proxy_tlv_iter. */
struct proxy_tlvs {
    struct proxy_bytes alpn, authority, unique_id, netns;
    struct proxy_bytes aws_vpce_id;  /* AWS 0xEA subtype 0x01 */
    bool has_crc32c;                 /* present and verified */
    bool has_azure_link_id;
    bool has_gcp_psc_id;
    uint32_t crc32c;
    uint32_t azure_link_id;          /* Azure 0xEE subtype 0x01, little-endian on the wire */
    uint64_t gcp_psc_id;             /* GCP 0xE0, big-endian on the wire */
    struct proxy_ssl ssl;
};

/* An IP address in network byte order; IPv4 uses the first 4 bytes of addr. */
struct proxy_ip {
    uint8_t family; /* PROXY_FAM_INET or PROXY_FAM_INET6 */
    uint8_t addr[16];
};

struct proxy_header {
    uint8_t version;     /* 1 or 2 */
    uint8_t command;     /* enum proxy_command; v1 is always PROXY */
    uint8_t family;      /* enum proxy_family; v1 UNKNOWN is UNSPEC */
    uint8_t transport;   /* enum proxy_transport; v1 is STREAM, or UNSPEC for UNKNOWN */
    bool has_addresses;  /* IP endpoints present; false for LOCAL, UNSPEC, v1 UNKNOWN (use the
                            socket's endpoints) and UNIX (paths in src_unix/dst_unix) */
    uint16_t src_port, dst_port;            /* host byte order (INET, INET6) */
    struct proxy_ip src, dst;               /* INET, INET6 */
    struct proxy_bytes src_unix, dst_unix;  /* UNIX: 108-byte raw paths */
    struct proxy_bytes tlv_area;            /* v2 PROXY: everything after the address block */
    struct proxy_tlvs tlv;
    uint32_t length;          /* header bytes, also the return value of proxy_parse() */
    enum proxy_error error;   /* set when proxy_parse() returns PROXY_INVALID */
};

struct proxy_parse_options {
    uint32_t max_length; /* largest header accepted; 0 means PROXY_DEFAULT_MAX_LENGTH */
};

/*
 * Parses the PROXY header at the start of buf[0..len).
 * Returns the header length (> 0) when complete: bytes past it belong to the application.
 * Returns PROXY_NEED_MORE when buf is a valid prefix of a header, PROXY_INVALID otherwise.
 * opts may be NULL for defaults. After PROXY_NEED_MORE or PROXY_INVALID only hdr->error is
 * meaningful (PROXY_OK for NEED_MORE).
 */
int proxy_parse(const uint8_t *buf, size_t len, const struct proxy_parse_options *opts,
                struct proxy_header *hdr);

/* A short human description of an error, e.g. "v1 header longer than 107 bytes". */
const char *proxy_error_message(enum proxy_error error);
/* A stable lower-case token for logs and metrics, e.g. "v1_too_long". */
const char *proxy_error_name(enum proxy_error error);

/* Iterates the TLVs of a validated area (hdr->tlv_area or hdr->tlv.ssl.subtlvs). */
struct proxy_tlv {
    uint8_t type;
    uint16_t len;
    const uint8_t *value;
};
struct proxy_tlv_iter {
    const uint8_t *pos, *end;
};
void proxy_tlv_iter_init(struct proxy_tlv_iter *it, struct proxy_bytes area);
bool proxy_tlv_next(struct proxy_tlv_iter *it, struct proxy_tlv *tlv);

/* ---- Encoding ---- */

struct proxy_encode_options {
    bool crc32c;        /* v2: append a CRC32C TLV over the finished header */
    uint32_t pad_to;    /* v2: append a NOOP TLV so the header is exactly this long (0: none) */
};

/*
 * Writes a v1 line for hdr (PROXY with INET/INET6 addresses, or UNKNOWN when !has_addresses).
 * Returns bytes written, or -1 when hdr cannot be expressed in v1 (a DGRAM transport, a family
 * other than INET/INET6 with addresses) or cap is too small.
 */
int proxy_encode_v1(uint8_t *out, size_t cap, const struct proxy_header *hdr);

/*
 * Writes a v2 header for hdr's command/family/transport/addresses followed by the given TLVs
 * (hdr->tlv is ignored). Returns bytes written, or -1 when: the command, family or transport is
 * out of range; a PROXY header of an IP or UNIX family has no addresses; the header would not
 * fit in cap or in 65551 bytes; or pad_to cannot be met (smaller than the header, or a gap of
 * 1 or 2 bytes, too small for a NOOP TLV).
 */
int proxy_encode_v2(uint8_t *out, size_t cap, const struct proxy_header *hdr,
                    const struct proxy_tlv *tlvs, size_t ntlvs,
                    const struct proxy_encode_options *opts);

/* Builds an SSL TLV value (client, verify, sub-TLVs). Returns bytes written or -1. */
int proxy_encode_ssl_value(uint8_t *out, size_t cap, uint8_t client, uint32_t verify,
                           const struct proxy_tlv *subtlvs, size_t nsubtlvs);

/* ---- Addresses as text ---- */

/*
 * Parses strict IPv4 dotted-quad (no leading zeros) or RFC 4291 IPv6 text (no zone id)
 * of exactly len bytes. Returns true on success.
 */
bool proxy_ip_parse(const char *text, size_t len, struct proxy_ip *out);
/* Formats an address (IPv6 per RFC 5952, v4-mapped as ::ffff:a.b.c.d). Returns the length. */
size_t proxy_ip_format(const struct proxy_ip *ip, char out[PROXY_IP_TEXT_MAX]);
/* True for ::ffff:a.b.c.d; proxy_ip_unmap() turns such an address into plain IPv4. */
bool proxy_ip_is_v4_mapped(const struct proxy_ip *ip);
void proxy_ip_unmap(struct proxy_ip *ip);

/* ---- CRC32C (Castagnoli) ---- */

/* Continues a CRC32C: start with crc = 0. Uses SSE4.2 when the CPU has it. */
uint32_t proxy_crc32c(uint32_t crc, const void *data, size_t len);
uint32_t proxy_crc32c_portable(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
