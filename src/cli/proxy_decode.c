/* postern proxy decode: shows an operator exactly what a proxy sent, as one JSON object. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "postern/proxy.h"
#include "util/json.h"

#define DECODE_INPUT_MAX (1u << 20)

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_INCOMPLETE = 2 };

static const char *family_name(const struct proxy_header *hdr)
{
    static const char *const names[4][3] = {
        {"UNSPEC", "UNSPEC", "UNSPEC"},
        {"UNSPEC", "TCP4", "UDP4"},
        {"UNSPEC", "TCP6", "UDP6"},
        {"UNSPEC", "UNIX_STREAM", "UNIX_DGRAM"},
    };
    return names[hdr->family & 3][hdr->transport % 3];
}

static void write_bytes(struct json_writer *w, const char *key, struct proxy_bytes b)
{
    if (b.ptr)
        json_string(w, key, b.ptr, b.len);
}

/* A UNIX path is NUL-padded to 108 bytes. */
static void write_unix_path(struct json_writer *w, const char *key, struct proxy_bytes path)
{
    const uint8_t *nul = memchr(path.ptr, 0, path.len);
    json_string(w, key, path.ptr, nul ? (size_t)(nul - path.ptr) : path.len);
}

static void write_addresses(struct json_writer *w, const struct proxy_header *hdr)
{
    char text[PROXY_IP_TEXT_MAX];
    if (hdr->has_addresses) {
        proxy_ip_format(&hdr->src, text);
        json_cstring(w, "src", text);
        proxy_ip_format(&hdr->dst, text);
        json_cstring(w, "dst", text);
        json_uint(w, "src_port", hdr->src_port);
        json_uint(w, "dst_port", hdr->dst_port);
    } else if (hdr->src_unix.ptr) {
        write_unix_path(w, "src", hdr->src_unix);
        write_unix_path(w, "dst", hdr->dst_unix);
    }
}

static void write_ssl(struct json_writer *w, const struct proxy_ssl *ssl)
{
    json_begin_object(w, "ssl");
    json_uint(w, "client", ssl->client);
    json_uint(w, "verify", ssl->verify);
    write_bytes(w, "version", ssl->version);
    write_bytes(w, "cn", ssl->cn);
    write_bytes(w, "cipher", ssl->cipher);
    write_bytes(w, "sig_alg", ssl->sig_alg);
    write_bytes(w, "key_alg", ssl->key_alg);
    write_bytes(w, "group", ssl->group);
    write_bytes(w, "sig_scheme", ssl->sig_scheme);
    if (ssl->client_cert.ptr)
        json_hex(w, "client_cert", ssl->client_cert.ptr, ssl->client_cert.len);
    json_end_object(w);
}

static void write_tlv_list(struct json_writer *w, struct proxy_bytes area)
{
    struct proxy_tlv_iter it;
    struct proxy_tlv tlv;
    json_begin_array(w, "tlvs");
    proxy_tlv_iter_init(&it, area);
    while (proxy_tlv_next(&it, &tlv)) {
        json_begin_object(w, NULL);
        json_uint(w, "type", tlv.type);
        json_hex(w, "hex", tlv.value, tlv.len);
        json_end_object(w);
    }
    json_end_array(w);
}

static void write_tlvs(struct json_writer *w, const struct proxy_header *hdr)
{
    const struct proxy_tlvs *t = &hdr->tlv;
    if (t->has_crc32c)
        json_cstring(w, "crc32c", "verified");
    write_bytes(w, "alpn", t->alpn);
    write_bytes(w, "authority", t->authority);
    if (t->unique_id.ptr)
        json_hex(w, "unique_id", t->unique_id.ptr, t->unique_id.len);
    write_bytes(w, "netns", t->netns);
    if (t->ssl.present)
        write_ssl(w, &t->ssl);
    write_bytes(w, "aws_vpce_id", t->aws_vpce_id);
    if (t->has_azure_link_id)
        json_uint(w, "azure_link_id", t->azure_link_id);
    if (t->has_gcp_psc_id)
        json_uint(w, "gcp_psc_id", t->gcp_psc_id);
    write_tlv_list(w, hdr->tlv_area);
}

static void write_header(FILE *out, const struct proxy_header *hdr)
{
    struct json_writer w = {.out = out};
    json_begin_object(&w, NULL);
    json_uint(&w, "version", hdr->version);
    json_cstring(&w, "command", hdr->command == PROXY_CMD_PROXY ? "PROXY" : "LOCAL");
    json_cstring(&w, "family", family_name(hdr));
    write_addresses(&w, hdr);
    json_uint(&w, "length", hdr->length);
    write_tlvs(&w, hdr);
    json_end_object(&w);
    fputc('\n', out);
}

static void decode_usage(FILE *out)
{
    fprintf(out,
            "usage: postern proxy decode [--hex] [--max-length N] [FILE]\n"
            "Reads a PROXY protocol header (raw bytes, or hex text with --hex) from FILE or\n"
            "standard input and prints it as JSON. Bytes after the header are ignored.\n"
            "Exit status: 0 valid, 1 invalid (reason on stderr), 2 incomplete, %d usage.\n",
            EXIT_USAGE);
}

int cmd_proxy_decode(int argc, char **argv)
{
    static const struct option options[] = {
        {"hex", no_argument, NULL, 'x'},
        {"max-length", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool hex = false;
    struct proxy_parse_options parse_opts = {.max_length = PROXY_DEFAULT_MAX_LENGTH};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "xm:h", options, NULL)) != -1) {
        switch (opt) {
        case 'x': hex = true; break;
        case 'm': parse_opts.max_length = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'h': decode_usage(stdout); return 0;
        default: decode_usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        decode_usage(stderr);
        return EXIT_USAGE;
    }
    unsigned char *buf = malloc(DECODE_INPUT_MAX);
    if (!buf)
        return EXIT_INVALID;
    long len = read_stream(optind < argc ? argv[optind] : NULL, buf, DECODE_INPUT_MAX);
    if (len >= 0 && hex)
        len = hex_decode((const char *)buf, (size_t)len, buf, DECODE_INPUT_MAX);
    int status = EXIT_USAGE;
    if (len < 0) {
        fprintf(stderr, "postern proxy decode: cannot read %s input\n", hex ? "hex" : "the");
    } else {
        struct proxy_header hdr;
        int rc = proxy_parse(buf, (size_t)len, &parse_opts, &hdr);
        if (rc > 0) {
            write_header(stdout, &hdr);
            status = EXIT_VALID;
        } else if (rc == PROXY_NEED_MORE) {
            fprintf(stderr, "incomplete PROXY header: %ld bytes are a valid prefix\n", len);
            status = EXIT_INCOMPLETE;
        } else {
            fprintf(stderr, "invalid PROXY header: %s (%s)\n", proxy_error_message(hdr.error),
                    proxy_error_name(hdr.error));
            status = EXIT_INVALID;
        }
    }
    free(buf);
    return status;
}
