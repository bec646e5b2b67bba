/*
 * gq.h - definitions shared by every gpuquota module: error codes and the
 * allocation wrappers.
 *
 * Error policy: functions that can fail return int, 0 (GQ_OK) on success or
 * a negative GQ_E* code; detail goes into a caller-provided struct gq_err.
 * Memory policy: allocation failure aborts the process (gq_malloc and
 * friends), as Redis' zmalloc does; the controller is a restartable pod and
 * nothing it holds is lost on restart (all state is in the apiserver).
 */
#ifndef GQ_H
#define GQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gq_status {
	GQ_OK = 0,
	GQ_EINVAL = -1,		/* invalid input (bad spec, bad argument) */
	GQ_EPARSE = -2,		/* malformed JSON/YAML/quantity */
	GQ_ETOOBIG = -3,	/* input exceeds a configured bound */
	GQ_EIO = -4,		/* file or socket error */
	GQ_EHTTP = -5,		/* HTTP-level failure (status in err) */
	GQ_ENOTFOUND = -6,	/* 404 / missing object */
	GQ_ECONFLICT = -7,	/* 409 */
	GQ_EGONE = -8,		/* 410: resource version too old */
	GQ_EUNSUPPORTED = -9,	/* feature deliberately not supported */
	GQ_ERANGE = -10,	/* arithmetic overflow / out of range */
	GQ_EUNAUTHORIZED = -11, /* 401 */
	GQ_EFORBIDDEN = -12,	/* 403 */
	GQ_ENOTLEADER = -13,	/* a write refused: this replica is not the leader */
};

/* Error detail: a message and, for HTTP errors, the status code. */
struct gq_err {
	int code;      /* HTTP status code, 0 when not an HTTP error */
	char msg[512]; /* human-readable message, NUL-terminated */
};

/* Sets err->msg with printf formatting (err may be NULL); returns rc. A
 * message cut at the bound never ends inside a UTF-8 character. */
int gq_err_set(struct gq_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Name of an error code, e.g. "EPARSE". */
const char *gq_strerror(int rc);

/* Allocation wrappers: never return NULL (abort on OOM). */
void *gq_malloc(size_t n);
void *gq_calloc(size_t nmemb, size_t size);
void *gq_realloc(void *p, size_t n);
char *gq_strdup(const char *s);
char *gq_strndup(const char *s, size_t n);
/* Formats into a new heap string (caller frees). */
char *gq_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Cuts an incomplete UTF-8 sequence off the end of s, as left by cutting a
 * valid text at a byte bound (snprintf truncation). Anything else is left
 * as it is. */
void gq_utf8_trim(char *s);
/* Length (1..4) of the well-formed UTF-8 character at s, of the len bytes
 * available there, or 0 when s does not start one (a stray continuation
 * byte, an overlong form, a surrogate, a value past U+10FFFF, a cut
 * sequence, len 0). */
size_t gq_utf8_char_len(const char *s, size_t len);
/* Whether s[0..len) passes yajl's UTF-8 check (yajl_gen_validate_utf8, as
 * yajl 2.1 applies it): every character has the shape of a 1 to 4 byte
 * UTF-8 sequence, a lead byte 0xxxxxxx, 110xxxxx, 1110xxxx or 11110xxx and
 * then that many 10xxxxxx bytes. Laxer than gq_utf8_char_len on purpose:
 * overlong forms, surrogates and values past U+10FFFF pass, as they do in
 * yajl, so that what the JSON writer accepts does not depend on its mode. */
bool gq_utf8_valid_yajl(const char *s, size_t len);

/* Reads a whole file of at most max bytes into a new NUL-terminated heap
 * buffer (*out, caller frees; *outlen its length). GQ_EIO or GQ_ETOOBIG. */
int gq_read_file(const char *path, size_t max, char **out, size_t *outlen, struct gq_err *err);

/* CLOCK_MONOTONIC in milliseconds: for deadlines and durations. */
int64_t gq_mono_ms(void);

/* CLOCK_REALTIME in milliseconds since the epoch: for timestamps. */
int64_t gq_real_ms(void);

/* Writes the decimal digits of v at *p (advancing it), at least width
 * digits, zero-padded; no NUL. The caller guarantees room (20 + width). */
void gq_put_uint(char **p, uint64_t v, int width);

#define GQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Checked int64 arithmetic: *out = a op b, or GQ_ERANGE (*out unspecified)
 * instead of wrapping. */
static inline int gq_ck_add(int64_t *out, int64_t a, int64_t b)
{
	return __builtin_add_overflow(a, b, out) ? GQ_ERANGE : GQ_OK;
}

static inline int gq_ck_sub(int64_t *out, int64_t a, int64_t b)
{
	return __builtin_sub_overflow(a, b, out) ? GQ_ERANGE : GQ_OK;
}

/* Floor division and the matching non-negative remainder, for b > 0. */
static inline int64_t gq_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b < 0)
		q--;
	return q;
}

static inline int64_t gq_floor_mod(int64_t a, int64_t b)
{
	int64_t r = a % b;

	return r < 0 ? r + b : r;
}

static inline int gq_ck_mul(int64_t *out, int64_t a, int64_t b)
{
	return __builtin_mul_overflow(a, b, out) ? GQ_ERANGE : GQ_OK;
}

#endif
