/*
 * buf.c - bounded growable buffer.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gq.h"

void gq_buf_init(struct gq_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void gq_buf_free(struct gq_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void gq_buf_reset(struct gq_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static void buf_reserve(struct gq_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;

	if (need + 1 <= b->cap)
		return;
	while (cap < need + 1)
		cap *= 2;
	b->data = gq_realloc(b->data, cap);
	b->cap = cap;
}

int gq_buf_append(struct gq_buf *b, const void *p, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return GQ_ETOOBIG;
	buf_reserve(b, b->len + n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return GQ_OK;
}

int gq_buf_puts(struct gq_buf *b, const char *s)
{
	return gq_buf_append(b, s, strlen(s));
}

int gq_buf_vprintf(struct gq_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return GQ_EINVAL;
	if ((size_t)n > b->max || b->len > b->max - (size_t)n)
		return GQ_ETOOBIG;
	buf_reserve(b, b->len + (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return GQ_OK;
}

int gq_buf_printf(struct gq_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = gq_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void gq_buf_consume(struct gq_buf *b, size_t n)
{
	if (n >= b->len) {
		gq_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

const char *gq_buf_str(const struct gq_buf *b)
{
	return b->data ? b->data : "";
}

char *gq_buf_steal(struct gq_buf *b)
{
	char *p = b->data ? b->data : gq_strdup("");

	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
