/*
 * buf.h - a growable byte buffer with a mandatory maximum size (curl's
 * dynbuf idea): every buffer fed from the network is bounded.
 */
#ifndef GQ_BUF_H
#define GQ_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct gq_buf {
	char *data; /* NUL-terminated contents (NULL until first append) */
	size_t len; /* bytes used, excluding the terminating NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* maximum len; appends past it fail with GQ_ETOOBIG */
};

/* Initialises an empty buffer that may grow to max bytes. */
void gq_buf_init(struct gq_buf *b, size_t max);
/* Frees the contents; the buffer may be reused after gq_buf_init. */
void gq_buf_free(struct gq_buf *b);
/* Empties the buffer, keeping its allocation. */
void gq_buf_reset(struct gq_buf *b);
/* Appends n bytes; GQ_ETOOBIG (buffer unchanged) past max. */
int gq_buf_append(struct gq_buf *b, const void *p, size_t n);
int gq_buf_puts(struct gq_buf *b, const char *s);
int gq_buf_printf(struct gq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gq_buf_vprintf(struct gq_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes (n <= len). */
void gq_buf_consume(struct gq_buf *b, size_t n);
/* Returns the contents (never NULL; "" when empty). Borrowed. */
const char *gq_buf_str(const struct gq_buf *b);
/* Transfers ownership of the contents to the caller (heap string, never
 * NULL) and leaves the buffer empty. */
char *gq_buf_steal(struct gq_buf *b);

#endif
