/*
 * gq.c - error helpers and abort-on-OOM allocation wrappers.
 */
#include "gq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int gq_err_set(struct gq_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return rc;
	va_start(ap, fmt);
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) >= (int)sizeof(err->msg))
		gq_utf8_trim(err->msg); /* messages end up in JSON: no cut character */
	va_end(ap);
	return rc;
}

void gq_utf8_trim(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char lead;

	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)s[i - 1];
	if (lead < 0xC0)
		return; /* ASCII, or stray continuation bytes: not a cut sequence */
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

size_t gq_utf8_char_len(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (len == 0)
		return 0;
	if (u[0] < 0x80)
		return 1;
	if (u[0] < 0xC2 || u[0] > 0xF4)
		return 0;
	need = u[0] < 0xE0 ? 2 : u[0] < 0xF0 ? 3 : 4;
	if (u[0] == 0xE0)
		lo = 0xA0; /* overlong */
	else if (u[0] == 0xED)
		hi = 0x9F; /* surrogates */
	else if (u[0] == 0xF0)
		lo = 0x90; /* overlong */
	else if (u[0] == 0xF4)
		hi = 0x8F; /* past U+10FFFF */
	if (len < need || u[1] < lo || u[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if ((u[i] & 0xC0) != 0x80)
			return 0;
	return need;
}

bool gq_utf8_valid_yajl(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, need, k;

	while (i < len) {
		if (u[i] < 0x80)
			need = 1;
		else if ((u[i] >> 5) == 0x6)
			need = 2;
		else if ((u[i] >> 4) == 0xE)
			need = 3;
		else if ((u[i] >> 3) == 0x1E)
			need = 4;
		else
			return false;
		if (len - i < need)
			return false;
		for (k = 1; k < need; k++)
			if ((u[i + k] >> 6) != 0x2)
				return false;
		i += need;
	}
	return true;
}

const char *gq_strerror(int rc)
{
	switch (rc) {
	case GQ_OK: return "OK";
	case GQ_EINVAL: return "EINVAL";
	case GQ_EPARSE: return "EPARSE";
	case GQ_ETOOBIG: return "ETOOBIG";
	case GQ_EIO: return "EIO";
	case GQ_EHTTP: return "EHTTP";
	case GQ_ENOTFOUND: return "ENOTFOUND";
	case GQ_ECONFLICT: return "ECONFLICT";
	case GQ_EGONE: return "EGONE";
	case GQ_EUNSUPPORTED: return "EUNSUPPORTED";
	case GQ_ERANGE: return "ERANGE";
	case GQ_EUNAUTHORIZED: return "EUNAUTHORIZED";
	case GQ_EFORBIDDEN: return "EFORBIDDEN";
	case GQ_ENOTLEADER: return "ENOTLEADER";
	default: return "EUNKNOWN";
	}
}

static void mem_oom(size_t n)
{
	fprintf(stderr, "gpuquota: out of memory allocating %zu bytes\n", n);
	abort();
}

void *gq_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		mem_oom(n);
	return p;
}

void *gq_calloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		mem_oom(nmemb * size);
	return p;
}

void *gq_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		mem_oom(n);
	return q;
}

char *gq_strdup(const char *s)
{
	return gq_strndup(s, strlen(s));
}

char *gq_strndup(const char *s, size_t n)
{
	char *p = gq_malloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *gq_asprintf(const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;
	char *p;

	/* One pass when the text fits the stack buffer (most messages): a
	 * sizing pass with vsnprintf(NULL, 0) costs as much as the formatting. */
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		mem_oom(0);
	p = gq_malloc((size_t)n + 1);
	if ((size_t)n < sizeof(small)) {
		memcpy(p, small, (size_t)n + 1);
		return p;
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/*
 * Reads the whole file at path, at most max bytes, into a new NUL-terminated
 * heap buffer (*out, owned by the caller; *outlen its length). GQ_EIO when
 * it cannot be read, GQ_ETOOBIG past max; err names the file.
 */
int gq_read_file(const char *path, size_t max, char **out, size_t *outlen, struct gq_err *err)
{
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t r;
	int fd, rc = GQ_OK;

	*out = NULL;
	*outlen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gq_err_set(err, GQ_EIO, "%s: %s", path, strerror(errno));
	buf = gq_malloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				rc = gq_err_set(err, GQ_ETOOBIG, "%s: larger than %zu bytes", path,
						max);
				goto out;
			}
			cap *= 2;
			buf = gq_realloc(buf, cap + 1);
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = gq_err_set(err, GQ_EIO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > max) {
		rc = gq_err_set(err, GQ_ETOOBIG, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gq_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t gq_real_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* Writes the decimal digits of v at *p (advancing it); at least `width`
 * digits, zero-padded. The caller guarantees room. */
void gq_put_uint(char **p, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n < width)
		tmp[n++] = '0';
	while (n > 0)
		*(*p)++ = tmp[--n];
}
