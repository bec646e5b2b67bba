/*
 * hmap.h - the one hash table: chained, intrusive (the caller's records
 * embed a struct gq_hmap_node and own their key), keyed by byte strings.
 * Buckets double past a load of 3/4 and halve below 1/8 (never under 16).
 * Not thread-safe: the caller locks.
 */
#ifndef GQ_HMAP_H
#define GQ_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in each record. */
struct gq_hmap_node {
	struct gq_hmap_node *next; /* chain */
	uint64_t hash;		   /* gq_hmap_hash of the record's key */
};

struct gq_hmap {
	struct gq_hmap_node **b; /* buckets (NULL until the first insert) */
	size_t nb;		 /* bucket count, power of two */
	size_t n;		 /* records */
	uint64_t seed;		 /* hash seed */
};

/* Whether node's record has key (len bytes). */
typedef bool (*gq_hmap_match)(const struct gq_hmap_node *node, const char *key, size_t len);

/* An empty table whose hash is seeded with seed. */
void gq_hmap_init(struct gq_hmap *m, uint64_t seed);

/* The seeded hash of key (FNV-1a with a murmur3 finaliser). */
uint64_t gq_hmap_hash(const struct gq_hmap *m, const char *key, size_t len);

/* The node whose record has key, or NULL. */
struct gq_hmap_node *gq_hmap_find(const struct gq_hmap *m, const char *key, size_t len,
				  gq_hmap_match match);

/* Links node, whose key hashes to hash (gq_hmap_hash) and is not in m yet. */
void gq_hmap_insert(struct gq_hmap *m, struct gq_hmap_node *node, uint64_t hash);

/* Unlinks node (which must be in m); the record stays the caller's. */
void gq_hmap_unlink(struct gq_hmap *m, struct gq_hmap_node *node);

/*
 * Iteration: for (n = gq_hmap_first(m, &i); n; n = gq_hmap_next(m, &i, n)).
 * No insert or unlink meanwhile (either may rehash). To free every record,
 * take next = gq_hmap_next(m, &i, n) before freeing n, then gq_hmap_free.
 */
struct gq_hmap_node *gq_hmap_first(const struct gq_hmap *m, size_t *i);
struct gq_hmap_node *gq_hmap_next(const struct gq_hmap *m, size_t *i,
				  const struct gq_hmap_node *node);

/* Frees the buckets (not the records) and empties m; seed stays. */
void gq_hmap_free(struct gq_hmap *m);

#endif /* GQ_HMAP_H */
