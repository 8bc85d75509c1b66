/* postern proxy encode: builds a header from flags, for tests and for probing servers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "postern/proxy.h"

#define MAX_TLVS 64
#define ARENA_SIZE (2 * PROXY_V2_MAX_LENGTH)

/* getopt values above the ASCII range; TLV options carry their TLV type in the low byte. */
enum {
    OPT_TLV_TEXT = 0x1000,  /* value is the argument's text */
    OPT_TLV_HEX = 0x2000,   /* value is the argument decoded from hex */
    OPT_SSL_TEXT = 0x3000,  /* SSL sub-TLV, text */
    OPT_SSL_HEX = 0x4000,   /* SSL sub-TLV, hex */
    OPT_OTHER = 0x5000,
};
enum {
    OPT_V1 = OPT_OTHER, OPT_V2, OPT_LOCAL, OPT_FAMILY, OPT_SRC, OPT_DST, OPT_SRC_PORT,
    OPT_DST_PORT, OPT_SSL_CLIENT, OPT_SSL_VERIFY, OPT_AWS, OPT_AZURE, OPT_GCP, OPT_RAW_TLV,
    OPT_CRC32C, OPT_PAD_TO, OPT_HEX_OUT, OPT_HELP,
};

static const struct option encode_options[] = {
    {"v1", no_argument, NULL, OPT_V1},
    {"v2", no_argument, NULL, OPT_V2},
    {"local", no_argument, NULL, OPT_LOCAL},
    {"family", required_argument, NULL, OPT_FAMILY},
    {"src", required_argument, NULL, OPT_SRC},
    {"dst", required_argument, NULL, OPT_DST},
    {"src-port", required_argument, NULL, OPT_SRC_PORT},
    {"dst-port", required_argument, NULL, OPT_DST_PORT},
    {"alpn", required_argument, NULL, OPT_TLV_TEXT | PROXY_TLV_ALPN},
    {"authority", required_argument, NULL, OPT_TLV_TEXT | PROXY_TLV_AUTHORITY},
    {"unique-id", required_argument, NULL, OPT_TLV_HEX | PROXY_TLV_UNIQUE_ID},
    {"netns", required_argument, NULL, OPT_TLV_TEXT | PROXY_TLV_NETNS},
    {"ssl-client", required_argument, NULL, OPT_SSL_CLIENT},
    {"ssl-verify", required_argument, NULL, OPT_SSL_VERIFY},
    {"ssl-version", required_argument, NULL, OPT_SSL_TEXT | PROXY_TLV_SSL_VERSION},
    {"ssl-cn", required_argument, NULL, OPT_SSL_TEXT | PROXY_TLV_SSL_CN},
    {"ssl-cipher", required_argument, NULL, OPT_SSL_TEXT | PROXY_TLV_SSL_CIPHER},
    {"ssl-sig-alg", required_argument, NULL, OPT_SSL_TEXT | PROXY_TLV_SSL_SIG_ALG},
    {"ssl-key-alg", required_argument, NULL, OPT_SSL_TEXT | PROXY_TLV_SSL_KEY_ALG},
    {"ssl-group", required_argument, NULL, OPT_SSL_TEXT | PROXY_TLV_SSL_GROUP},
    {"ssl-sig-scheme", required_argument, NULL, OPT_SSL_TEXT | PROXY_TLV_SSL_SIG_SCHEME},
    {"ssl-client-cert", required_argument, NULL, OPT_SSL_HEX | PROXY_TLV_SSL_CLIENT_CERT},
    {"aws-vpce-id", required_argument, NULL, OPT_AWS},
    {"azure-link-id", required_argument, NULL, OPT_AZURE},
    {"gcp-psc-id", required_argument, NULL, OPT_GCP},
    {"tlv", required_argument, NULL, OPT_RAW_TLV},
    {"crc32c", no_argument, NULL, OPT_CRC32C},
    {"pad-to", required_argument, NULL, OPT_PAD_TO},
    {"hex", no_argument, NULL, OPT_HEX_OUT},
    {"help", no_argument, NULL, OPT_HELP},
    {0},
};

struct encode_request {
    int version;
    bool hex_output;
    bool family_given;
    struct proxy_header hdr;
    const char *src_text, *dst_text;
    struct proxy_encode_options opts;
    struct proxy_tlv tlvs[MAX_TLVS], ssl_subtlvs[MAX_TLVS];
    size_t ntlvs, nssl;
    bool ssl;
    uint8_t ssl_client;
    uint32_t ssl_verify;
    uint8_t arena[ARENA_SIZE]; /* TLV values */
    size_t arena_used;
};

static void encode_usage(FILE *out)
{
    fprintf(out,
            "usage: postern proxy encode [--v1|--v2] [--local] [--family F] [--src IP --dst IP\n"
            "         --src-port N --dst-port N] [TLV options] [--crc32c] [--pad-to N] [--hex]\n"
            "Writes a PROXY header to standard output (raw bytes, or hex text with --hex).\n"
            "  --family   tcp4 tcp6 udp4 udp6 unix-stream unix-dgram unspec (default: from --src)\n"
            "  --src/--dst  IP addresses, or socket paths for unix-* families\n"
            "  TLVs: --alpn S --authority S --unique-id HEX --netns S --aws-vpce-id S\n"
            "        --azure-link-id N --gcp-psc-id N --tlv TYPE:HEX (any type, repeatable)\n"
            "  SSL:  --ssl-client N --ssl-verify N --ssl-version S --ssl-cn S --ssl-cipher S\n"
            "        --ssl-sig-alg S --ssl-key-alg S --ssl-group S --ssl-sig-scheme S\n"
            "        --ssl-client-cert HEX\n"
            "  v1 writes TCP4/TCP6 lines, or UNKNOWN without addresses.\n");
}

static bool parse_number(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!*text || *text == '-')
        return false;
    unsigned long long v = strtoull(text, &end, 0);
    if (*end || v > max)
        return false;
    *out = v;
    return true;
}

static uint8_t *arena_take(struct encode_request *req, size_t n)
{
    if (n > ARENA_SIZE - req->arena_used)
        return NULL;
    uint8_t *p = req->arena + req->arena_used;
    req->arena_used += n;
    return p;
}

static bool add_value(struct encode_request *req, struct proxy_tlv *list, size_t *count,
                      uint8_t type, const void *value, size_t len)
{
    uint8_t *copy = arena_take(req, len);
    if (!copy || len > UINT16_MAX || *count == MAX_TLVS)
        return false;
    memcpy(copy, value, len);
    list[(*count)++] = (struct proxy_tlv){.type = type, .len = (uint16_t)len, .value = copy};
    return true;
}

static bool add_hex_value(struct encode_request *req, struct proxy_tlv *list, size_t *count,
                          uint8_t type, const char *hex)
{
    size_t cap = ARENA_SIZE - req->arena_used;
    long n = hex_decode(hex, strlen(hex), req->arena + req->arena_used, cap);
    if (n < 0 || n > UINT16_MAX || *count == MAX_TLVS)
        return false;
    list[(*count)++] = (struct proxy_tlv){
        .type = type, .len = (uint16_t)n, .value = arena_take(req, (size_t)n)};
    return true;
}

static bool add_raw_tlv(struct encode_request *req, const char *spec)
{
    const char *colon = strchr(spec, ':');
    char type_text[8];
    unsigned long long type;
    if (!colon || (size_t)(colon - spec) >= sizeof type_text)
        return false;
    memcpy(type_text, spec, (size_t)(colon - spec));
    type_text[colon - spec] = 0;
    return parse_number(type_text, 255, &type) &&
           add_hex_value(req, req->tlvs, &req->ntlvs, (uint8_t)type, colon + 1);
}

static bool add_vendor_tlv(struct encode_request *req, int opt, const char *arg)
{
    uint8_t value[9];
    unsigned long long n;
    switch (opt) {
    case OPT_AWS: {
        size_t len = strlen(arg);
        uint8_t *v = arena_take(req, len + 1);
        if (!v || len + 1 > UINT16_MAX || req->ntlvs == MAX_TLVS)
            return false;
        v[0] = PROXY_AWS_SUBTYPE_VPCE_ID;
        memcpy(v + 1, arg, len);
        req->tlvs[req->ntlvs++] =
            (struct proxy_tlv){.type = PROXY_TLV_AWS, .len = (uint16_t)(len + 1), .value = v};
        return true;
    }
    case OPT_AZURE:
        if (!parse_number(arg, UINT32_MAX, &n))
            return false;
        value[0] = PROXY_AZURE_SUBTYPE_LINK_ID;
        for (int i = 0; i < 4; i++)
            value[1 + i] = (uint8_t)(n >> (8 * i));
        return add_value(req, req->tlvs, &req->ntlvs, PROXY_TLV_AZURE, value, 5);
    default: /* OPT_GCP */
        if (!parse_number(arg, UINT64_MAX, &n))
            return false;
        for (int i = 0; i < 8; i++)
            value[i] = (uint8_t)(n >> (56 - 8 * i));
        return add_value(req, req->tlvs, &req->ntlvs, PROXY_TLV_GCP, value, 8);
    }
}

static bool set_family(struct encode_request *req, const char *name)
{
    static const struct {
        const char *name;
        uint8_t family, transport;
    } families[] = {
        {"tcp4", PROXY_FAM_INET, PROXY_TRANSPORT_STREAM},
        {"udp4", PROXY_FAM_INET, PROXY_TRANSPORT_DGRAM},
        {"tcp6", PROXY_FAM_INET6, PROXY_TRANSPORT_STREAM},
        {"udp6", PROXY_FAM_INET6, PROXY_TRANSPORT_DGRAM},
        {"unix-stream", PROXY_FAM_UNIX, PROXY_TRANSPORT_STREAM},
        {"unix-dgram", PROXY_FAM_UNIX, PROXY_TRANSPORT_DGRAM},
        {"unspec", PROXY_FAM_UNSPEC, PROXY_TRANSPORT_UNSPEC},
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (strcmp(families[i].name, name) == 0) {
            req->hdr.family = families[i].family;
            req->hdr.transport = families[i].transport;
            req->family_given = true;
            return true;
        }
    }
    return false;
}

static bool parse_port(const char *text, uint16_t *port)
{
    unsigned long long v;
    if (!parse_number(text, UINT16_MAX, &v))
        return false;
    *port = (uint16_t)v;
    return true;
}

/* Applies one option; returns false on a bad argument. */
static bool apply_option(struct encode_request *req, int opt, const char *arg)
{
    unsigned long long n;
    int kind = opt & 0xF000;
    uint8_t type = (uint8_t)(opt & 0xFF);
    if (kind == OPT_TLV_TEXT)
        return add_value(req, req->tlvs, &req->ntlvs, type, arg, strlen(arg));
    if (kind == OPT_TLV_HEX)
        return add_hex_value(req, req->tlvs, &req->ntlvs, type, arg);
    if (kind == OPT_SSL_TEXT || kind == OPT_SSL_HEX) {
        req->ssl = true;
        return kind == OPT_SSL_TEXT
                   ? add_value(req, req->ssl_subtlvs, &req->nssl, type, arg, strlen(arg))
                   : add_hex_value(req, req->ssl_subtlvs, &req->nssl, type, arg);
    }
    switch (opt) {
    case OPT_V1: req->version = 1; return true;
    case OPT_V2: req->version = 2; return true;
    case OPT_LOCAL: req->hdr.command = PROXY_CMD_LOCAL; return true;
    case OPT_FAMILY: return set_family(req, arg);
    case OPT_SRC: req->src_text = arg; return true;
    case OPT_DST: req->dst_text = arg; return true;
    case OPT_SRC_PORT: return parse_port(arg, &req->hdr.src_port);
    case OPT_DST_PORT: return parse_port(arg, &req->hdr.dst_port);
    case OPT_SSL_CLIENT:
        req->ssl = true;
        if (!parse_number(arg, UINT8_MAX, &n))
            return false;
        req->ssl_client = (uint8_t)n;
        return true;
    case OPT_SSL_VERIFY:
        req->ssl = true;
        if (!parse_number(arg, UINT32_MAX, &n))
            return false;
        req->ssl_verify = (uint32_t)n;
        return true;
    case OPT_AWS: case OPT_AZURE: case OPT_GCP: return add_vendor_tlv(req, opt, arg);
    case OPT_RAW_TLV: return add_raw_tlv(req, arg);
    case OPT_CRC32C: req->opts.crc32c = true; return true;
    case OPT_PAD_TO:
        if (!parse_number(arg, PROXY_V2_MAX_LENGTH, &n))
            return false;
        req->opts.pad_to = (uint32_t)n;
        return true;
    case OPT_HEX_OUT: req->hex_output = true; return true;
    default: return false;
    }
}

/* IP addresses, or socket paths for the UNIX family; infers the family from --src. */
static const char *resolve_addresses(struct encode_request *req)
{
    struct proxy_header *hdr = &req->hdr;
    if (!req->src_text && !req->dst_text) {
        if (!req->family_given && req->version == 2)
            hdr->family = PROXY_FAM_UNSPEC, hdr->transport = PROXY_TRANSPORT_UNSPEC;
        return NULL;
    }
    if (!req->src_text || !req->dst_text)
        return "--src and --dst go together";
    if (hdr->family == PROXY_FAM_UNIX) {
        hdr->src_unix = (struct proxy_bytes){(const uint8_t *)req->src_text,
                                             (uint16_t)strnlen(req->src_text, 108)};
        hdr->dst_unix = (struct proxy_bytes){(const uint8_t *)req->dst_text,
                                             (uint16_t)strnlen(req->dst_text, 108)};
        return NULL;
    }
    if (!proxy_ip_parse(req->src_text, strlen(req->src_text), &hdr->src) ||
        !proxy_ip_parse(req->dst_text, strlen(req->dst_text), &hdr->dst))
        return "--src and --dst must be IP addresses";
    if (hdr->src.family != hdr->dst.family)
        return "--src and --dst must be of the same family";
    if (!req->family_given) {
        hdr->family = hdr->src.family;
        hdr->transport = PROXY_TRANSPORT_STREAM;
    }
    if (hdr->family != hdr->src.family)
        return "--family does not match the addresses";
    hdr->has_addresses = true;
    return NULL;
}

static int build(struct encode_request *req, uint8_t *out, size_t cap)
{
    if (req->version == 1)
        return proxy_encode_v1(out, cap, &req->hdr);
    if (req->ssl) {
        size_t room = ARENA_SIZE - req->arena_used;
        int n = proxy_encode_ssl_value(req->arena + req->arena_used, room, req->ssl_client,
                                       req->ssl_verify, req->ssl_subtlvs, req->nssl);
        if (n < 0 || n > UINT16_MAX || req->ntlvs == MAX_TLVS)
            return -1;
        req->tlvs[req->ntlvs++] = (struct proxy_tlv){
            .type = PROXY_TLV_SSL, .len = (uint16_t)n, .value = arena_take(req, (size_t)n)};
    }
    return proxy_encode_v2(out, cap, &req->hdr, req->tlvs, req->ntlvs, &req->opts);
}

static void write_output(const uint8_t *out, size_t len, bool hex)
{
    if (!hex) {
        fwrite(out, 1, len, stdout);
        return;
    }
    for (size_t i = 0; i < len; i++)
        printf("%02x", out[i]);
    putchar('\n');
}

int cmd_proxy_encode(int argc, char **argv)
{
    struct encode_request *req = calloc(1, sizeof *req);
    uint8_t *out = malloc(PROXY_V2_MAX_LENGTH);
    int status = EXIT_USAGE, opt, index = 0;
    if (!req || !out)
        goto done;
    req->version = 2;
    req->hdr.command = PROXY_CMD_PROXY;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", encode_options, &index)) != -1) {
        if (opt == OPT_HELP) {
            encode_usage(stdout);
            status = 0;
            goto done;
        }
        if (opt == '?' || !apply_option(req, opt, optarg)) {
            if (opt != '?')
                fprintf(stderr, "postern proxy encode: bad value for --%s: '%s'\n",
                        encode_options[index].name, optarg);
            encode_usage(stderr);
            goto done;
        }
    }
    const char *problem = resolve_addresses(req);
    if (problem) {
        fprintf(stderr, "postern proxy encode: %s\n", problem);
        goto done;
    }
    int n = build(req, out, PROXY_V2_MAX_LENGTH);
    if (n < 0) {
        fprintf(stderr, "postern proxy encode: these fields do not fit a v%d header\n",
                req->version);
        status = 1;
        goto done;
    }
    write_output(out, (size_t)n, req->hex_output);
    status = 0;
done:
    free(req);
    free(out);
    return status;
}
