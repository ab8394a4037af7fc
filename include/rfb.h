/*
 * rfb.h - pure RFB / VeNCrypt codec: bytes in, named result out, no I/O.
 *
 * Every parser looks at the bytes received so far and says whether it
 * needs more, accepted a message (and how many bytes it used), or why the
 * bytes are bad.  Every writer fills a caller buffer and returns its length.
 */
#ifndef VENCRYPTD_RFB_H
#define VENCRYPTD_RFB_H

#include <stddef.h>
#include <stdint.h>

#define RFB_VERSION_LEN 12          /* "RFB 003.008\n" */
#define RFB_REASON_MAX 1024         /* longest failure reason we send or accept */
#define VENCRYPT_PLAIN_MAX 1024     /* longest user name, and password, accepted */

#define RFB_SEC_INVALID 0
#define RFB_SEC_NONE 1
#define RFB_SEC_VNCAUTH 2
#define RFB_SEC_VENCRYPT 19

#define VENCRYPT_PLAIN 256
#define VENCRYPT_TLSNONE 257
#define VENCRYPT_TLSVNC 258
#define VENCRYPT_TLSPLAIN 259
#define VENCRYPT_X509NONE 260
#define VENCRYPT_X509VNC 261
#define VENCRYPT_X509PLAIN 262

enum rfb_result {
	RFB_NEED_MORE,          /* a prefix of a valid message: read more */
	RFB_OK,                 /* a whole message, *used bytes long */
	RFB_BAD_VERSION,        /* not "RFB ddd.ddd\n" */
	RFB_OLD_VERSION,        /* a valid version older than 3.7 (3.3 semantics) */
	RFB_BAD_VALUE,          /* a field holds a value the protocol does not allow */
	RFB_REFUSED,            /* the peer sent a failure (reason in the output) */
	RFB_TOO_LONG,           /* a length field beyond RFB_REASON_MAX */
};

/* A protocol version normalised to what we speak: minor is 3, 7 or 8. */
struct rfb_version {
	unsigned major;
	unsigned minor;
};

/* A failure reason taken from the wire, NUL-terminated, bytes outside
 * printable ASCII replaced by '?' so it can be logged safely. */
struct rfb_reason {
	char text[RFB_REASON_MAX + 1];
};

const char *rfb_result_name(enum rfb_result r);

/* ---- both sides -------------------------------------------------------- */

/* "RFB xxx.yyy\n".  3.7 and 3.8 as they are; 3.889 and anything newer as
 * 3.8; 3.3-3.6 give RFB_OLD_VERSION with out->minor = 3. */
enum rfb_result rfb_parse_version(const uint8_t *buf, size_t len,
    struct rfb_version *out, size_t *used);
size_t rfb_put_version(uint8_t *out, size_t cap, const struct rfb_version *v);

/* u32 SecurityResult: RFB_OK for 0; RFB_REFUSED with a reason for non-zero
 * when with_reason (3.8), RFB_REFUSED without one otherwise. */
enum rfb_result rfb_parse_security_result(const uint8_t *buf, size_t len,
    int with_reason, struct rfb_reason *reason, size_t *used);
/* u32 0 */
size_t rfb_put_security_ok(uint8_t *out, size_t cap);
/* u32 1, u32 len, reason */
size_t rfb_put_security_failure(uint8_t *out, size_t cap, const char *reason);
/* 3.3 refusal: u32 0 (invalid), u32 len, reason */
size_t rfb_put_refusal_33(uint8_t *out, size_t cap, const char *reason);

/* ---- client side (we are the server) ----------------------------------- */

/* u8 count, VeNCrypt only */
size_t rfb_put_security_types(uint8_t *out, size_t cap);
/* u8 choice: RFB_OK only for VeNCrypt, RFB_BAD_VALUE otherwise */
enum rfb_result rfb_parse_security_choice(const uint8_t *buf, size_t len,
    uint8_t *choice, size_t *used);
/* u8 0, u8 2 */
size_t vencrypt_put_version(uint8_t *out, size_t cap);
/* u8 major, u8 minor: RFB_OK only for 0.2 */
enum rfb_result vencrypt_parse_version(const uint8_t *buf, size_t len,
    struct rfb_version *out, size_t *used);
/* u8 status: 0 accepted, 0xff refused */
size_t vencrypt_put_version_status(uint8_t *out, size_t cap, int ok);
/* u8 count, count x u32 */
size_t vencrypt_put_subtypes(uint8_t *out, size_t cap,
    const uint32_t *subtypes, size_t n);
/* u32 choice: RFB_OK if it is one of offered[], RFB_BAD_VALUE otherwise */
enum rfb_result vencrypt_parse_subtype(const uint8_t *buf, size_t len,
    const uint32_t *offered, size_t n, uint32_t *choice, size_t *used);
/* u8 ack: 1 accepted (sic), 0 refused */
size_t vencrypt_put_subtype_ack(uint8_t *out, size_t cap, int ok);

/* The Plain credentials, pointing into the caller's buffer (not
 * NUL-terminated). */
struct vencrypt_plain {
	const uint8_t *user;
	size_t ulen;
	const uint8_t *password;
	size_t plen;
};

/* u32 ulen, u32 plen, user, password.  RFB_NEED_MORE with *used set to
 * the whole message's length (8 until both lengths are in), so a reader
 * never takes a byte beyond it; RFB_TOO_LONG as soon as a length is over
 * VENCRYPT_PLAIN_MAX, before any of the rest is read; RFB_BAD_VALUE for a
 * NUL inside the user name or the password; RFB_OK with out filled. */
enum rfb_result vencrypt_parse_plain(const uint8_t *buf, size_t len,
    struct vencrypt_plain *out, size_t *used);

const char *vencrypt_subtype_name(uint32_t subtype);
/* 0 for an unknown name */
uint32_t vencrypt_subtype_from_name(const char *name);

/* ---- backend side (we are a plain client) ------------------------------ */

/* What a backend offered, decoded from either the 3.3 or the 3.7+ form. */
struct rfb_offer {
	int has_none;
	size_t ntypes;
	uint8_t types[255];
};

/* 3.3: u32 type.  RFB_OK with the offer (1 None, 2 VncAuth, ...);
 * RFB_REFUSED with a reason for type 0. */
enum rfb_result rfb_parse_security_33(const uint8_t *buf, size_t len,
    struct rfb_offer *offer, struct rfb_reason *reason, size_t *used);
/* 3.7+: u8 n, n x u8.  RFB_OK with the offer; RFB_REFUSED with a reason
 * for n = 0. */
enum rfb_result rfb_parse_security_types(const uint8_t *buf, size_t len,
    struct rfb_offer *offer, struct rfb_reason *reason, size_t *used);
/* "VncAuth, Tight (16)": the offer as words for a log line */
void rfb_offer_describe(const struct rfb_offer *offer, char *out, size_t cap);

#endif
