/* Shared between the codec's translation units; not part of the public API. */
#ifndef POSTERN_PROXY_INTERNAL_H
#define POSTERN_PROXY_INTERNAL_H

#include <string.h>

#include "postern/proxy.h"

/* Each returns like proxy_parse(); buf starts with a complete "PROXY " or v2 signature. */
int proxy_parse_v1(const uint8_t *buf, size_t len, uint32_t max_length, struct proxy_header *hdr);
int proxy_parse_v2(const uint8_t *buf, size_t len, uint32_t max_length, struct proxy_header *hdr);

/*
 * Clears a header. A plain memset of the whole struct makes gcc emit `rep stos`, whose startup
 * cost alone exceeds the rest of a v2 parse; 64-byte pieces become a few vector stores.
 */
static inline __attribute__((always_inline)) void proxy_clear_header(struct proxy_header *hdr)
{
    char *p = (char *)hdr;
    size_t i = 0;
    for (; i + 64 <= sizeof *hdr; i += 64)
        memset(p + i, 0, 64);
    memset(p + i, 0, sizeof *hdr - i);
}

static inline int proxy_fail(struct proxy_header *hdr, enum proxy_error error)
{
    hdr->error = error;
    return PROXY_INVALID;
}

static inline uint16_t proxy_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t proxy_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void proxy_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void proxy_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
