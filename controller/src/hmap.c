/*
 * hmap.c - the one hash table (see hmap.h).
 */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

#include "gq.h"

#define HMAP_MIN 16 /* smallest bucket array (power of two) */

void gq_hmap_init(struct gq_hmap *m, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->seed = seed;
}

uint64_t gq_hmap_hash(const struct gq_hmap *m, const char *key, size_t len)
{
	uint64_t h = 14695981039346656037ULL ^ m->seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Rehashes every node into n (power of two) buckets. */
static void hmap_resize(struct gq_hmap *m, size_t n)
{
	struct gq_hmap_node **nb = gq_calloc(n, sizeof(*nb)), *e, *next;

	for (size_t i = 0; i < m->nb; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(m->b);
	m->b = nb;
	m->nb = n;
}

struct gq_hmap_node *gq_hmap_find(const struct gq_hmap *m, const char *key, size_t len,
				  gq_hmap_match match)
{
	uint64_t h;

	if (m->nb == 0)
		return NULL;
	h = gq_hmap_hash(m, key, len);
	for (struct gq_hmap_node *e = m->b[h & (m->nb - 1)]; e != NULL; e = e->next)
		if (e->hash == h && match(e, key, len))
			return e;
	return NULL;
}

void gq_hmap_insert(struct gq_hmap *m, struct gq_hmap_node *node, uint64_t hash)
{
	if (m->nb == 0)
		hmap_resize(m, HMAP_MIN);
	else if (m->n + 1 > m->nb - m->nb / 4)
		hmap_resize(m, m->nb * 2);
	node->hash = hash;
	node->next = m->b[hash & (m->nb - 1)];
	m->b[hash & (m->nb - 1)] = node;
	m->n++;
}

void gq_hmap_unlink(struct gq_hmap *m, struct gq_hmap_node *node)
{
	struct gq_hmap_node **pp = &m->b[node->hash & (m->nb - 1)];

	while (*pp != node)
		pp = &(*pp)->next;
	*pp = node->next;
	node->next = NULL;
	m->n--;
	if (m->nb > HMAP_MIN && m->n < m->nb / 8)
		hmap_resize(m, m->nb / 2);
}

struct gq_hmap_node *gq_hmap_first(const struct gq_hmap *m, size_t *i)
{
	for (*i = 0; *i < m->nb; (*i)++)
		if (m->b[*i] != NULL)
			return m->b[*i];
	return NULL;
}

struct gq_hmap_node *gq_hmap_next(const struct gq_hmap *m, size_t *i,
				  const struct gq_hmap_node *node)
{
	if (node->next != NULL)
		return node->next;
	for ((*i)++; *i < m->nb; (*i)++)
		if (m->b[*i] != NULL)
			return m->b[*i];
	return NULL;
}

void gq_hmap_free(struct gq_hmap *m)
{
	free(m->b);
	m->b = NULL;
	m->nb = 0;
	m->n = 0;
}
