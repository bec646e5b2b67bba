/*
 * fuzz_jsonstream.c - libFuzzer target for jsonstream.c.
 *
 * Input: the first byte selects how the rest is cut into chunks (fixed sizes
 * 1..8, or a varying pattern); the rest is the byte stream. The stream is
 * decoded chunked, then the same stream is reset and fed again in one piece,
 * and the two runs must agree (both fail, or both succeed with the same
 * values). Every value is also run through gq_watch_event_decode. Must never
 * crash, leak or trip ASan/UBSan; an invariant violation aborts.
 *
 * Build (libFuzzer): clang-14 -fsanitize=fuzzer,address,undefined ...
 * Replay without libFuzzer: link with test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gq.h"
#include "jsonstream.h"

/* Small bound so that the fuzzer reaches GQ_ETOOBIG too. */
#define FUZZ_MAX_VALUE 2048

struct digest {
	size_t n;
	uint64_t h;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 1099511628211ULL; /* FNV-1a */
}

static void mix_str(uint64_t *h, const char *s)
{
	if (s == NULL)
		mix(h, "\xff", 1);
	else
		mix(h, s, strlen(s) + 1);
}

/* Decodes each value as a watch event and folds what it saw into a digest;
 * stops the stream at a "410 Gone" ERROR, as the informer does. */
static int fuzz_cb(void *payload, yajl_val v)
{
	struct digest *d = payload;
	struct gq_watch_event ev;
	struct gq_err err;
	int rc;

	d->n++;
	err.msg[0] = '\0';
	rc = gq_watch_event_decode(&ev, v, &err);
	mix(&d->h, &rc, sizeof(rc));
	if (rc != GQ_OK) {
		mix_str(&d->h, err.msg);
		return 0;
	}
	mix_str(&d->h, gq_watch_type_name(ev.type));
	mix_str(&d->h, ev.resource_version);
	mix(&d->h, &ev.code, sizeof(ev.code));
	mix_str(&d->h, ev.reason);
	mix_str(&d->h, ev.message);
	mix(&d->h, &ev.object->u.object.len, sizeof(size_t));
	return gq_watch_event_is_gone(&ev) ? GQ_EGONE : 0;
}

/* Size of chunk i for selector sel. */
static size_t chunk_size(uint8_t sel, size_t i)
{
	size_t base = (size_t)(sel & 7) + 1;

	if (!(sel & 8))
		return base;
	return 1 + (i * (size_t)(sel >> 4) + i * i) % (base * 4);
}

/* Feeds data in chunks, each copied to an exact-size heap block so that
 * ASan sees any read past a chunk. Returns the first nonzero status. */
static int feed_chunks(struct gq_jsonstream *s, uint8_t sel, const uint8_t *data, size_t size)
{
	size_t off = 0, i = 0, n;
	char *chunk;
	int rc = GQ_OK;

	while (off < size && rc == GQ_OK) {
		n = chunk_size(sel, i++);
		if (n > size - off)
			n = size - off;
		chunk = gq_malloc(n);
		memcpy(chunk, data + off, n);
		rc = gq_jsonstream_feed(s, chunk, n);
		free(chunk);
		off += n;
	}
	return rc;
}

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_jsonstream: invariant violated: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_jsonstream s;
	struct digest a = {0, 14695981039346656037ULL}, b = {0, 14695981039346656037ULL};
	char *whole;
	int rc_a, rc_b, fin_a, fin_b;
	uint8_t sel;

	if (size == 0)
		return 0;
	sel = data[0];
	data++;
	size--;

	gq_jsonstream_init(&s, FUZZ_MAX_VALUE, fuzz_cb, &a);
	rc_a = feed_chunks(&s, sel, data, size);
	fin_a = gq_jsonstream_finish(&s);
	check(s.nvalues == a.n, "nvalues counts callbacks");
	check(rc_a == GQ_OK || fin_a == rc_a, "errors are sticky");
	check(rc_a != GQ_OK || s.err.msg[0] == '\0' || fin_a != GQ_OK,
	      "no message without an error");

	/* same stream after a reset, one piece */
	gq_jsonstream_reset(&s);
	s.payload = &b;
	whole = gq_malloc(size);
	memcpy(whole, data, size);
	rc_b = gq_jsonstream_feed(&s, whole, size);
	free(whole);
	fin_b = gq_jsonstream_finish(&s);
	check(s.nvalues == b.n, "nvalues counts callbacks after reset");

	check((rc_a == GQ_OK) == (rc_b == GQ_OK), "chunking changes success");
	if (rc_a == GQ_OK) {
		check(a.n == b.n, "chunking changes the value count");
		check(a.h == b.h, "chunking changes the values");
		check(fin_a == fin_b, "chunking changes finish()");
	}
	gq_jsonstream_free(&s);
	return 0;
}
