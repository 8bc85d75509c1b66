/*
 * PROXY protocol v1 (text) and version detection, in the picohttpparser style: one table line
 * per case, every input parsed at the end of a page followed by a PROT_NONE page, and every
 * prefix of every input parsed too (split reads).
 *
 * Beside the table, a small reference parser written from the spec (with inet_pton for the
 * addresses) judges thousands of mutated lines: every byte of every valid line replaced by every
 * byte value, deleted, or with a byte inserted.
 */
#include "proxy_test_util.h"

#include <ctype.h>


struct v1_case {
    const uint8_t *input;
    size_t len;
    int result; /* VALID, PROXY_NEED_MORE or PROXY_INVALID */
    enum proxy_error error;
    size_t tail; /* application bytes after a VALID header */
    uint8_t family;
    const char *src, *dst;
    unsigned sport, dport;
};

#define TCP4(s, d, sp, dp) \
    .result = VALID, .family = PROXY_FAM_INET, .src = (s), .dst = (d), .sport = (sp), .dport = (dp)
#define TCP6(s, d, sp, dp) \
    .result = VALID, .family = PROXY_FAM_INET6, .src = (s), .dst = (d), .sport = (sp), .dport = (dp)
#define UNKNOWN .result = VALID, .family = PROXY_FAM_UNSPEC
#define MORE .result = PROXY_NEED_MORE
#define BAD(e) .result = PROXY_INVALID, .error = (e)

/* Longest texts: 39 hex characters, 45 with a dotted quad. */
#define F8 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
#define F6Q "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
#define X10 "xxxxxxxxxx"
#define X90 X10 X10 X10 X10 X10 X10 X10 X10 X10

/* The v1 longest line the spec names (TCP6 with 39-character addresses): 104 bytes. */
#define V1_TCP6_LONGEST "PROXY TCP6 " F8 " " F8 " 65535 65535\r\n"
/* The spec's worst case, UNKNOWN carrying the longest TCP6 fields: exactly 107 bytes. */
#define V1_UNKNOWN_107 "PROXY UNKNOWN " F8 " " F8 " 65535 65535\r\n"
/* A TCP6 line of exactly 107 bytes (45 + 36 character addresses), and one of 108. */
#define V1_TCP6_107 "PROXY TCP6 " F6Q " fff:ffff:ffff:ffff:ffff:ffff:1.2.3.4 65535 65535\r\n"
#define V1_TCP6_108 "PROXY TCP6 " F6Q " ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4 65535 65535\r\n"

static const struct v1_case v1_cases[] = {
    /* ---- TCP4 ---- */
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), TCP4("1.2.3.4", "5.6.7.8", 1, 2)},
    {IN("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
     TCP4("192.168.0.1", "192.168.0.11", 56324, 443)},
    {IN("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"),
     TCP4("0.0.0.0", "255.255.255.255", 0, 65535)},
    {IN("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n"),
     TCP4("255.255.255.255", "0.0.0.0", 65535, 0)},
    {IN("PROXY TCP4 10.0.0.10 100.99.90.0 10 100\r\n"), TCP4("10.0.0.10", "100.99.90.0", 10, 100)},
    {IN("PROXY TCP4 1.22.199.250 249.9.0.255 1000 10000\r\n"),
     TCP4("1.22.199.250", "249.9.0.255", 1000, 10000)},
    /* application bytes after the CRLF are not part of the header, whatever they are */
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nEHLO x\r\n"), .tail = 8,
     TCP4("1.2.3.4", "5.6.7.8", 1, 2)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n\n\r\0"), .tail = 3, TCP4("1.2.3.4", "5.6.7.8", 1, 2)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n\x16\x03\x01\x02\x00"), .tail = 5,
     TCP4("1.2.3.4", "5.6.7.8", 1, 2)},
    /* AWS NLB: a client's own header behind the proxy's one belongs to the application */
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPROXY TCP4 9.9.9.9 8.8.8.8 3 4\r\n"), .tail = 32,
     TCP4("1.2.3.4", "5.6.7.8", 1, 2)},

    /* ---- TCP6 ---- */
    {IN("PROXY TCP6 ::1 ::2 3 4\r\n"), TCP6("::1", "::2", 3, 4)},
    {IN("PROXY TCP6 :: :: 0 0\r\n"), TCP6("::", "::", 0, 0)},
    {IN("PROXY TCP6 2001:db8::1 2001:DB8::2 25 587\r\n"),
     TCP6("2001:db8::1", "2001:db8::2", 25, 587)},
    {IN("PROXY TCP6 1:2:3:4:5:6:7:8 8:7:6:5:4:3:2:1 143 993\r\n"),
     TCP6("1:2:3:4:5:6:7:8", "8:7:6:5:4:3:2:1", 143, 993)},
    {IN("PROXY TCP6 0001:0002:0003:0004:0005:0006:0007:0008 1:: 1 2\r\n"),
     TCP6("1:2:3:4:5:6:7:8", "1::", 1, 2)},
    {IN("PROXY TCP6 fe80::1 FE80::ABCD:ef01 1 2\r\n"), TCP6("fe80::1", "fe80::abcd:ef01", 1, 2)},
    {IN("PROXY TCP6 1:2:3:4:5:6:7:: ::2:3:4:5:6:7:8 1 2\r\n"),
     TCP6("1:2:3:4:5:6:7:0", "0:2:3:4:5:6:7:8", 1, 2)},
    /* trailing dotted quad, v4-mapped as nginx sends it on dual-stack listeners */
    {IN("PROXY TCP6 ::ffff:1.2.3.4 ::ffff:5.6.7.8 1 2\r\n"),
     TCP6("::ffff:1.2.3.4", "::ffff:5.6.7.8", 1, 2)},
    {IN("PROXY TCP6 ::FFFF:192.0.2.1 0:0:0:0:0:ffff:198.51.100.2 50000 25\r\n"),
     TCP6("::ffff:192.0.2.1", "::ffff:198.51.100.2", 50000, 25)},
    {IN("PROXY TCP6 64:ff9b::192.0.2.33 ::1.2.3.4 1 2\r\n"),
     TCP6("64:ff9b::c000:221", "::102:304", 1, 2)},
    {IN(V1_TCP6_LONGEST), TCP6(F8, F8, 65535, 65535)},
    {IN(V1_TCP6_107), TCP6(F6Q, "fff:ffff:ffff:ffff:ffff:ffff:1.2.3.4", 65535, 65535)},
    {IN("PROXY TCP6 ::1 ::2 3 4\r\n\r\n"), .tail = 2, TCP6("::1", "::2", 3, 4)},

    /* ---- UNKNOWN: short and long forms; anything up to the CRLF is ignored ---- */
    {IN("PROXY UNKNOWN\r\n"), UNKNOWN},
    {IN("PROXY UNKNOWN\r\nEHLO"), .tail = 4, UNKNOWN},
    {IN("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), UNKNOWN},
    {IN("PROXY UNKNOWN ::1 ::2 3 4\r\n"), UNKNOWN},
    {IN(V1_UNKNOWN_107), UNKNOWN},
    {IN("PROXY UNKNOWN \r\n"), UNKNOWN},
    {IN("PROXY UNKNOWN  two  spaces and 1.2.3.400 99999\r\n"), UNKNOWN},
    {IN("PROXY UNKNOWN \0\x01\x7f\xff\xc3\xa9\t\r\n"), UNKNOWN},

    /* ---- valid prefixes: wait for more ---- */
    {IN(""), MORE},
    {IN("P"), MORE},
    {IN("PROX"), MORE},
    {IN("PROXY"), MORE},
    {IN("PROXY "), MORE},
    {IN("PROXY T"), MORE},
    {IN("PROXY TCP"), MORE},
    {IN("PROXY TCP4"), MORE},
    {IN("PROXY UNKNOW"), MORE},
    {IN("PROXY UNKNOWN"), MORE},
    {IN("PROXY UNKNOWN 1.2.3.4"), MORE},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), MORE},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), MORE},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 6553"), MORE},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 0"), MORE},
    {IN("PROXY TCP4 1.2.3.25"), MORE},
    {IN("PROXY TCP6 ::ffff:1.2.3.4"), MORE},
    {IN("PROXY TCP6 " F8), MORE},
    {IN("PROXY UNKNOWN " X90 "x\r"), MORE}, /* 106 bytes: the LF would make it 107 */

    /* ---- not a PROXY header at all (detection on the bytes present) ---- */
    {IN("GET / HTTP/1.1\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("EHLO mail.example.com\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("\x16\x03\x01\x02\x00\x01"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("Proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN(" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("PROXY\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("PPROXY TCP4"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("\0PROXY"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("\r\n\r\n\r\n"), BAD(PROXY_ERR_NOT_PROXY)}, /* the v2 signature has a NUL here */

    /* ---- protocol keyword: exact, upper case ---- */
    {IN("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY Tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY tcp6 ::1 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY unknown\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY Unknown\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY TCP4x1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY UNKNOWNX\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY UNKNOWN_\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY TCP\xc3\x98" "4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY \r\n"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY X"), BAD(PROXY_ERR_V1_FAMILY)},
    {IN("PROXY TCP6x"), BAD(PROXY_ERR_V1_FAMILY)},

    /* ---- separators: exactly one space ---- */
    {IN("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SEPARATOR)},
    {IN("PROXY  UNKNOWN\r\n"), BAD(PROXY_ERR_V1_SEPARATOR)},
    {IN("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SEPARATOR)},
    {IN("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SEPARATOR)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n"), BAD(PROXY_ERR_V1_SEPARATOR)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n"), BAD(PROXY_ERR_V1_SEPARATOR)},
    {IN("PROXY TCP6 ::1  ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SEPARATOR)},
    {IN("PROXY TCP4 1.2.3.4  "), BAD(PROXY_ERR_V1_SEPARATOR)}, /* decided before the CRLF */

    /* ---- line end: CRLF only; a lone CR or LF, or a control byte, is a line-end error ---- */
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r \r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1\r2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4\r\n1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY \n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY UNKNOWN\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY UNKNOWN\r"), MORE},
    {IN("PROXY UNKNOWN\rX\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY UNKNOWN 1.2.3.4\r5.6.7.8\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY UNKNOWN 1.2.3.4\n5.6.7.8\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY UNKNOWN x\ry"), BAD(PROXY_ERR_V1_LINE_END)}, /* decided before the LF */
    {IN("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},

    /* ---- NUL and non-ASCII bytes inside fields ---- */
    {IN("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2\0.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 \0" "1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1\0 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8\x7f 1 2\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP6 ::1\0 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_LINE_END)},
    {IN("PROXY TCP4 1.2.3.4\xa0 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 \xef\xbc\x91.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.\xff 1 2\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},
    {IN("PROXY TCP6 ::\xc3\xa9 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 8\xc2\xb2 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 \xd9\xa3\r\n"), BAD(PROXY_ERR_V1_DST_PORT)},

    /* ---- IPv4: four decimal octets 0-255, no leading zeros ---- */
    {IN("PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)}, /* HAProxy */
    {IN("PROXY TCP4 1.2.3.4 5.6.7.400 1 2\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},
    {IN("PROXY TCP4 256.0.0.0 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.4 05.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},
    {IN("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 +1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 -1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.4/32 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 16909060 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 localhost 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},

    /* ---- IPv6: RFC 4291 text, no zone id ---- */
    {IN("PROXY TCP6 ::1%eth0 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::1 fe80::1%25eth0 3 4\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},
    {IN("PROXY TCP6 [::1] ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::: ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 1::2::3 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 1:2:3:4:5:6:7 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 12345:: ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 :1 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 1: ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::g ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::ffff:1.2.3.400 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::ffff:01.2.3.4 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::ffff:1.2.3 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 1.2.3.4:: ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::1 ::2:: 3 4\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},
    {IN("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0 ::2 3 4\r\n"),
     BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 " F8 ":ffff ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},

    /* ---- the address family must match the keyword, both ways ---- */
    {IN("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP4 1.2.3.4 ::1 1 2\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},
    {IN("PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 1.2.3.4 ::2 3 4\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},
    {IN("PROXY TCP6 ::1 5.6.7.8 3 4\r\n"), BAD(PROXY_ERR_V1_DST_ADDR)},
    {IN("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), BAD(PROXY_ERR_V1_SRC_ADDR)},

    /* ---- ports: 0-65535, decimal, no sign, no leading zeros ---- */
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), BAD(PROXY_ERR_V1_DST_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 4294967297\r\n"), BAD(PROXY_ERR_V1_DST_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n"), BAD(PROXY_ERR_V1_DST_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 00443\r\n"), BAD(PROXY_ERR_V1_DST_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n"), BAD(PROXY_ERR_V1_DST_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1.0 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 smtp 2\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n"), BAD(PROXY_ERR_V1_DST_PORT)},
    {IN("PROXY TCP6 ::1 ::2 65536 4\r\n"), BAD(PROXY_ERR_V1_SRC_PORT)},

    /* ---- missing fields ---- */
    {IN("PROXY TCP4\r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY TCP4 \r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY TCP4 1.2.3.4\r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY TCP4 1.2.3.4 \r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8\r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},
    {IN("PROXY TCP6 ::1 ::2 3\r\n"), BAD(PROXY_ERR_V1_MISSING_FIELD)},

    /* ---- trailing tokens and trailing space ---- */
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), BAD(PROXY_ERR_V1_TRAILING)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), BAD(PROXY_ERR_V1_TRAILING)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 TLS\r\n"), BAD(PROXY_ERR_V1_TRAILING)},
    {IN("PROXY TCP6 ::1 ::2 3 4 \r\n"), BAD(PROXY_ERR_V1_TRAILING)},
    {IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 "), BAD(PROXY_ERR_V1_TRAILING)}, /* before the CRLF */

    /* ---- 107 bytes at most, CRLF included ---- */
    {IN(V1_TCP6_108), BAD(PROXY_ERR_V1_TOO_LONG)},
    {IN("PROXY UNKNOWN " F8 " " F8 " 65535 65535 \r\n"), BAD(PROXY_ERR_V1_TOO_LONG)},
    {IN("PROXY TCP6 " F6Q " " F6Q " 1 2\r\n"), BAD(PROXY_ERR_V1_TOO_LONG)},
    {IN("PROXY UNKNOWN " X90 "xxx"), BAD(PROXY_ERR_V1_TOO_LONG)},   /* 107 bytes, no LF */
    {IN("PROXY UNKNOWN " X90 "xx\r"), BAD(PROXY_ERR_V1_TOO_LONG)},  /* the LF would be byte 108 */
    {IN("PROXY UNKNOWN " X90 X90 "\r\n"), BAD(PROXY_ERR_V1_TOO_LONG)},
};

/* Checks every field of a decoded v1 header against a VALID table line. */
static void check_v1_fields(const struct v1_case *c, const struct proxy_header *h, const char *what)
{
    static const struct proxy_tlvs no_tlvs;
    assert_int_equal(h->version, 1);
    assert_int_equal(h->command, PROXY_CMD_PROXY);
    assert_int_equal(h->family, c->family);
    assert_int_equal(h->error, PROXY_OK);
    assert_int_equal(h->length, c->len - c->tail);
    assert_null(h->tlv_area.ptr);
    assert_null(h->src_unix.ptr);
    assert_null(h->dst_unix.ptr);
    assert_memory_equal(&h->tlv, &no_tlvs, sizeof no_tlvs);
    if (c->family == PROXY_FAM_UNSPEC) {
        assert_false(h->has_addresses);
        assert_int_equal(h->transport, PROXY_TRANSPORT_UNSPEC);
        return;
    }
    assert_true(h->has_addresses);
    assert_int_equal(h->transport, PROXY_TRANSPORT_STREAM);
    expect_ip(&h->src, c->src, what);
    expect_ip(&h->dst, c->dst, what);
    assert_int_equal(h->src_port, c->sport);
    assert_int_equal(h->dst_port, c->dport);
}

static int expected_rc(const struct v1_case *c)
{
    return c->result == VALID ? (int)(c->len - c->tail) : c->result;
}

static void test_v1_table(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < ARRAY_LEN(v1_cases); i++) {
        const struct v1_case *c = &v1_cases[i];
        struct proxy_header h;
        char what[32];
        snprintf(what, sizeof what, "v1 case %zu", i);
        expect_parse(&g, c->input, c->len, NULL, expected_rc(c), c->error, &h, what);
        if (c->result == VALID)
            check_v1_fields(c, &h, what);
    }
    guard_free(&g);
}

/* Every prefix of every table input: valid ones wait, invalid ones never complete. */
static void test_v1_table_every_prefix(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < ARRAY_LEN(v1_cases); i++) {
        const struct v1_case *c = &v1_cases[i];
        char what[32];
        snprintf(what, sizeof what, "v1 case %zu", i);
        expect_case_prefixes(&g, c->input, c->len, c->result, c->error, c->tail, what);
    }
    guard_free(&g);
}

/* The table names every v1 error at least once. */
static void test_v1_table_covers_every_v1_error(void **state)
{
    (void)state;
    static const enum proxy_error v1_errors[] = {
        PROXY_ERR_NOT_PROXY,       PROXY_ERR_V1_TOO_LONG,  PROXY_ERR_V1_LINE_END,
        PROXY_ERR_V1_SEPARATOR,    PROXY_ERR_V1_FAMILY,    PROXY_ERR_V1_SRC_ADDR,
        PROXY_ERR_V1_DST_ADDR,     PROXY_ERR_V1_SRC_PORT,  PROXY_ERR_V1_DST_PORT,
        PROXY_ERR_V1_MISSING_FIELD, PROXY_ERR_V1_TRAILING,
    };
    for (size_t e = 0; e < ARRAY_LEN(v1_errors); e++) {
        bool found = false;
        for (size_t i = 0; i < ARRAY_LEN(v1_cases) && !found; i++)
            found = v1_cases[i].result == PROXY_INVALID && v1_cases[i].error == v1_errors[e];
        if (!found)
            fail_msg("no v1 table line expects %s", proxy_error_name(v1_errors[e]));
    }
}

/* The lines the length rules are about really have the lengths the comments claim. */
static void test_v1_limit_lines_have_their_lengths(void **state)
{
    (void)state;
    assert_int_equal(sizeof V1_TCP6_LONGEST - 1, 104);
    assert_int_equal(sizeof V1_UNKNOWN_107 - 1, PROXY_V1_MAX_LENGTH);
    assert_int_equal(sizeof V1_TCP6_107 - 1, PROXY_V1_MAX_LENGTH);
    assert_int_equal(sizeof V1_TCP6_108 - 1, PROXY_V1_MAX_LENGTH + 1);
}

/* "PROXY UNKNOWN" lines of every length around the limit: valid exactly up to 107 bytes. */
static void test_v1_every_line_length(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    uint8_t line[256];
    for (size_t n = 16; n <= 200; n++) {
        memcpy(line, "PROXY UNKNOWN ", 14);
        memset(line + 14, 'a', n - 16);
        memcpy(line + n - 2, "\r\n", 2);
        struct proxy_header h;
        if (n <= PROXY_V1_MAX_LENGTH)
            expect_prefixes_valid(&g, line, n, n, NULL, "UNKNOWN line length");
        else
            expect_prefixes_invalid(&g, line, n, NULL, PROXY_ERR_V1_TOO_LONG,
                                    "UNKNOWN line length");
        /* Detected at 107 bytes, without waiting for a line end that may never come. */
        if (n > PROXY_V1_MAX_LENGTH)
            expect_parse(&g, line, PROXY_V1_MAX_LENGTH, NULL, PROXY_INVALID,
                         PROXY_ERR_V1_TOO_LONG, &h, "107 bytes without LF");
    }
    guard_free(&g);
}

/* Each octet position takes exactly 0-255 written without leading zeros. */
static void test_v1_every_octet_value(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    char line[128];
    struct proxy_header h;
    for (int pos = 0; pos < 4; pos++) {
        for (int v = 0; v < 1000; v++) {
            for (int zero_padded = 0; zero_padded < 2; zero_padded++) {
                char octets[4][8] = {"10", "20", "30", "40"};
                snprintf(octets[pos], sizeof octets[pos], zero_padded ? "0%d" : "%d", v);
                int n = snprintf(line, sizeof line, "PROXY TCP4 %s.%s.%s.%s 5.6.7.8 1 2\r\n",
                                 octets[0], octets[1], octets[2], octets[3]);
                bool valid = v <= 255 && !zero_padded;
                expect_parse(&g, line, (size_t)n, NULL, valid ? n : PROXY_INVALID,
                             PROXY_ERR_V1_SRC_ADDR, &h, "octet");
                if (valid)
                    assert_int_equal(h.src.addr[pos], v);
            }
        }
    }
    guard_free(&g);
}

/* Both ports take exactly 0-65535 written without leading zeros or sign. */
static void test_v1_every_port_value(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    char line[128];
    struct proxy_header h;
    for (unsigned v = 0; v <= 100000; v++) {
        int n = snprintf(line, sizeof line, "PROXY TCP4 1.2.3.4 5.6.7.8 %u 7\r\n", v);
        expect_parse(&g, line, (size_t)n, NULL, v <= 65535 ? n : PROXY_INVALID,
                     PROXY_ERR_V1_SRC_PORT, &h, "source port");
        if (v <= 65535)
            assert_int_equal(h.src_port, v);
        n = snprintf(line, sizeof line, "PROXY TCP6 ::1 ::2 7 %u\r\n", v);
        expect_parse(&g, line, (size_t)n, NULL, v <= 65535 ? n : PROXY_INVALID,
                     PROXY_ERR_V1_DST_PORT, &h, "destination port");
        if (v <= 65535)
            assert_int_equal(h.dst_port, v);
    }
    for (unsigned v = 0; v <= 65535; v += 7) {
        int n = snprintf(line, sizeof line, "PROXY TCP4 1.2.3.4 5.6.7.8 0%u 7\r\n", v);
        expect_parse(&g, line, (size_t)n, NULL, PROXY_INVALID, PROXY_ERR_V1_SRC_PORT, &h,
                     "zero-padded port");
        n = snprintf(line, sizeof line, "PROXY TCP4 1.2.3.4 5.6.7.8 7 +%u\r\n", v);
        expect_parse(&g, line, (size_t)n, NULL, PROXY_INVALID, PROXY_ERR_V1_DST_PORT, &h,
                     "signed port");
    }
    guard_free(&g);
}

/* With a caller's maximum under 107 bytes, longer v1 lines are too large for that caller. */
static void test_v1_caller_max_length(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    static const char line[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"; /* 47 bytes */
    size_t n = sizeof line - 1;
    struct proxy_header h;
    struct proxy_parse_options exact = {.max_length = (uint32_t)n};
    struct proxy_parse_options under = {.max_length = (uint32_t)n - 1};
    struct proxy_parse_options huge = {.max_length = UINT32_MAX};
    expect_parse(&g, line, n, &exact, (int)n, PROXY_OK, &h, "max = line length");
    expect_prefixes_valid(&g, (const uint8_t *)line, n, n, &exact, "max = line length");
    expect_prefixes_invalid(&g, (const uint8_t *)line, n, &under, PROXY_ERR_TOO_LARGE,
                            "max = line length - 1");
    /* A maximum above 107 never lifts the spec's limit. */
    expect_parse(&g, V1_UNKNOWN_107, 107, &huge, 107, PROXY_OK, &h, "107 under a huge max");
    expect_parse(&g, V1_TCP6_108, 108, &huge, PROXY_INVALID, PROXY_ERR_V1_TOO_LONG, &h,
                 "108 under a huge max");
    guard_free(&g);
}

/*
 * The named headers of the issue: every prefix waits, the full header with application bytes
 * behind it completes at exactly its length, and reads of random sizes agree.
 */
static void test_v1_split_reads(void **state)
{
    (void)state;
    static const char *const headers[] = {
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        V1_TCP6_LONGEST,
        V1_UNKNOWN_107,
        "PROXY UNKNOWN\r\n",
        "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.2 50000 25\r\n",
    };
    static const char app[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\nPROXY ";
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 1;
    for (size_t i = 0; i < ARRAY_LEN(headers); i++) {
        uint8_t buf[256];
        size_t n = strlen(headers[i]);
        memcpy(buf, headers[i], n);
        memcpy(buf + n, app, sizeof app - 1);
        size_t total = n + sizeof app - 1;
        expect_prefixes_valid(&g, buf, total, n, NULL, headers[i]);
        for (uint32_t max_read = 1; max_read <= 16; max_read++) {
            for (int round = 0; round < 20; round++)
                expect_split_reads(&g, buf, total, (int)n, n, &rng, max_read, headers[i]);
        }
    }
    guard_free(&g);
}

/* Detection: only 'P' (v1) and CR (v2 signature) may start a header; decided on byte 1. */
static void test_detection_first_byte(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        bool may_start = byte == 'P' || byte == 0x0D;
        expect_parse(&g, &byte, 1, NULL, may_start ? PROXY_NEED_MORE : PROXY_INVALID,
                     PROXY_ERR_NOT_PROXY, &h, "first byte");
    }
    expect_parse(&g, "", 0, NULL, PROXY_NEED_MORE, PROXY_OK, &h, "no bytes");
    guard_free(&g);
}

/* Any byte of "PROXY " replaced by anything else is not a PROXY header, decided right there. */
static void test_detection_v1_signature_bytes(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (size_t pos = 0; pos < 6; pos++) {
        for (int b = 0; b < 256; b++) {
            uint8_t line[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
            if (line[pos] == b)
                continue;
            line[pos] = (uint8_t)b;
            if (pos == 0 && b == 0x0D)
                continue; /* the start of a v2 signature */
            expect_parse(&g, line, pos + 1, NULL, PROXY_INVALID, PROXY_ERR_NOT_PROXY, &h,
                         "signature byte");
            expect_parse(&g, line, sizeof line - 1, NULL, PROXY_INVALID, PROXY_ERR_NOT_PROXY,
                         &h, "signature byte");
        }
    }
    guard_free(&g);
}

/* ---- A reference parser, written from the spec, for the mutation test ---- */

struct ref_result {
    int rc; /* length, PROXY_INVALID, or 0 when undecided (no line end yet) */
    uint8_t family;
    struct proxy_ip src, dst;
    unsigned sport, dport;
};

static bool ref_port(const char *s, size_t n, unsigned *out)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return v <= 65535;
}

static bool ref_addr(const char *s, size_t n, uint8_t family, struct proxy_ip *out)
{
    char text[64];
    if (n == 0 || n >= sizeof text || memchr(s, '\0', n))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    memset(out, 0, sizeof *out);
    out->family = family;
    return inet_pton(family == PROXY_FAM_INET ? AF_INET : AF_INET6, text, out->addr) == 1;
}

static struct ref_result ref_parse_v1(const uint8_t *buf, size_t len)
{
    struct ref_result r = {.rc = PROXY_INVALID};
    size_t scan = len < PROXY_V1_MAX_LENGTH ? len : PROXY_V1_MAX_LENGTH;
    const uint8_t *lf = memchr(buf, '\n', scan);
    if (!lf) {
        r.rc = len < PROXY_V1_MAX_LENGTH ? 0 : PROXY_INVALID;
        return r;
    }
    size_t line_len = (size_t)(lf - buf);
    if (line_len < 6 || buf[line_len - 1] != '\r' || memcmp(buf, "PROXY ", 6) != 0)
        return r;
    const char *line = (const char *)buf;
    size_t end = line_len - 1; /* the CR */
    if (memchr(line, '\r', end))
        return r;
    if (end >= 13 && memcmp(line + 6, "UNKNOWN", 7) == 0 && (end == 13 || line[13] == ' ')) {
        r.rc = (int)line_len + 1; /* anything may follow UNKNOWN */
        r.family = PROXY_FAM_UNSPEC;
        return r;
    }
    /* Split on single spaces; an empty token means a doubled, leading or trailing space. */
    const char *tok[8];
    size_t tok_len[8], ntok = 0, start = 6;
    for (size_t i = 6; i <= end; i++) {
        if (i == end || line[i] == ' ') {
            if (ntok == ARRAY_LEN(tok))
                return r;
            tok[ntok] = line + start;
            tok_len[ntok++] = i - start;
            start = i + 1;
        }
    }
    if (ntok != 5 || tok_len[0] != 4)
        return r;
    if (memcmp(tok[0], "TCP4", 4) == 0)
        r.family = PROXY_FAM_INET;
    else if (memcmp(tok[0], "TCP6", 4) == 0)
        r.family = PROXY_FAM_INET6;
    else
        return r;
    if (!ref_addr(tok[1], tok_len[1], r.family, &r.src) ||
        !ref_addr(tok[2], tok_len[2], r.family, &r.dst) ||
        !ref_port(tok[3], tok_len[3], &r.sport) || !ref_port(tok[4], tok_len[4], &r.dport))
        return r;
    r.rc = (int)line_len + 1;
    return r;
}

static void compare_with_reference(struct guard *g, const uint8_t *buf, size_t len)
{
    struct proxy_header h;
    struct ref_result want = ref_parse_v1(buf, len);
    int rc = parse_guarded(g, buf, len, NULL, &h);
    char shown[512];
    if (want.rc == 0) { /* no line end yet: the codec may wait or refuse, never complete */
        if (rc > 0)
            fail_msg("\"%s\": complete (%d) without a line end",
                     show_bytes(buf, len, shown, sizeof shown), rc);
        return;
    }
    if (rc != want.rc)
        fail_msg("\"%s\": codec %d, reference %d", show_bytes(buf, len, shown, sizeof shown),
                 rc, want.rc);
    if (rc == PROXY_INVALID) {
        assert_int_not_equal(h.error, PROXY_OK);
        return;
    }
    assert_int_equal(h.family, want.family);
    if (want.family == PROXY_FAM_UNSPEC) {
        assert_false(h.has_addresses);
        return;
    }
    size_t n = want.family == PROXY_FAM_INET ? 4 : 16;
    assert_int_equal(h.src.family, want.family);
    assert_int_equal(h.dst.family, want.family);
    assert_memory_equal(h.src.addr, want.src.addr, n);
    assert_memory_equal(h.dst.addr, want.dst.addr, n);
    assert_int_equal(h.src_port, want.sport);
    assert_int_equal(h.dst_port, want.dport);
}

/* The reference agrees with the table on every complete table input. */
static void test_v1_reference_agrees_with_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(v1_cases); i++) {
        const struct v1_case *c = &v1_cases[i];
        if (c->result == PROXY_NEED_MORE || c->len == 0 || c->input[0] != 'P')
            continue;
        struct ref_result r = ref_parse_v1(c->input, c->len);
        if (r.rc != 0 && r.rc != expected_rc(c))
            fail_msg("v1 case %zu: reference %d, table %d", i, r.rc, expected_rc(c));
    }
}

/*
 * Every byte of every valid table line replaced by each of the 256 values, deleted, or preceded
 * by an inserted byte: the codec and the reference agree on validity and on the fields.
 */
static void test_v1_mutations_match_reference(void **state)
{
    (void)state;
    static const uint8_t inserts[] = {' ', '0', '1', '9', ':', '.', 'a', 'F', '\r', '\n', '\0',
                                      '\t', 0x80, 0xff, '-', '+', '%'};
    struct guard g;
    guard_init(&g, 4096);
    uint8_t buf[256];
    for (size_t i = 0; i < ARRAY_LEN(v1_cases); i++) {
        const struct v1_case *c = &v1_cases[i];
        if (c->result != VALID || c->tail != 0)
            continue;
        size_t n = c->len;
        for (size_t pos = 0; pos < n; pos++) {
            for (int b = 0; b < 256; b++) {
                memcpy(buf, c->input, n);
                buf[pos] = (uint8_t)b;
                compare_with_reference(&g, buf, n);
            }
            memcpy(buf, c->input, pos);
            memcpy(buf + pos, c->input + pos + 1, n - pos - 1);
            compare_with_reference(&g, buf, n - 1);
            for (size_t k = 0; k < ARRAY_LEN(inserts); k++) {
                memcpy(buf, c->input, pos);
                buf[pos] = inserts[k];
                memcpy(buf + pos + 1, c->input + pos, n - pos);
                compare_with_reference(&g, buf, n + 1);
            }
        }
    }
    guard_free(&g);
}

/* Random TCP4/TCP6 lines built from random addresses and ports decode to what was written. */
static void test_v1_random_lines(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 42;
    for (int i = 0; i < 20000; i++) {
        bool v6 = rng_below(&rng, 2);
        uint8_t a[16], b[16];
        rng_fill(&rng, a, sizeof a);
        rng_fill(&rng, b, sizeof b);
        if (v6 && rng_below(&rng, 4) == 0) { /* v4-mapped, as nginx sends */
            memset(a, 0, 10);
            a[10] = a[11] = 0xff;
        }
        if (v6 && rng_below(&rng, 4) == 0)
            memset(b + 2, 0, 2 * rng_below(&rng, 7)); /* zero runs for "::" */
        unsigned sport = rng_below(&rng, 65536), dport = rng_below(&rng, 65536);
        char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], line[128];
        inet_ntop(v6 ? AF_INET6 : AF_INET, a, sa, sizeof sa);
        inet_ntop(v6 ? AF_INET6 : AF_INET, b, da, sizeof da);
        int n = snprintf(line, sizeof line, "PROXY TCP%c %s %s %u %u\r\n", v6 ? '6' : '4', sa, da,
                         sport, dport);
        struct proxy_header h;
        expect_parse(&g, line, (size_t)n, NULL, n, PROXY_OK, &h, "random line");
        assert_memory_equal(h.src.addr, a, v6 ? 16 : 4);
        assert_memory_equal(h.dst.addr, b, v6 ? 16 : 4);
        assert_int_equal(h.src_port, sport);
        assert_int_equal(h.dst_port, dport);
    }
    guard_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_table),
        cmocka_unit_test(test_v1_table_every_prefix),
        cmocka_unit_test(test_v1_table_covers_every_v1_error),
        cmocka_unit_test(test_v1_limit_lines_have_their_lengths),
        cmocka_unit_test(test_v1_every_line_length),
        cmocka_unit_test(test_v1_every_octet_value),
        cmocka_unit_test(test_v1_every_port_value),
        cmocka_unit_test(test_v1_caller_max_length),
        cmocka_unit_test(test_v1_split_reads),
        cmocka_unit_test(test_detection_first_byte),
        cmocka_unit_test(test_detection_v1_signature_bytes),
        cmocka_unit_test(test_v1_reference_agrees_with_table),
        cmocka_unit_test(test_v1_mutations_match_reference),
        cmocka_unit_test(test_v1_random_lines),
    };
    return cmocka_run_group_tests_name("proxy_v1", tests, NULL, NULL);
}
