/*
 * yamldoc.c - YAML streams to yajl trees (see yamldoc.h for the rules).
 *
 * libyaml's event parser drives a small builder that assembles each
 * document as a tree of gq_yamldoc_node (typed scalars, mappings with their
 * key positions, sequences). An anchor borrows its node, which stays alive
 * until the end of the document (nodes leaving the tree go to a
 * "graveyard"), and an alias is expanded by copying that node under a count
 * and a size budget, so that alias bombs cost at most
 * GQ_YAMLDOC_MAX_ALIAS_WEIGHT bytes. A
 * finished document is written out with yajl_gen and read back with
 * yajl_tree_parse, which gives callers exactly the yajl_val conventions
 * (number flags, string ownership) of parsed JSON; the node tree stays
 * behind as the source map for gq_yamldoc_pos.
 */
#include "yamldoc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yaml.h>

/* ---- node tree ----------------------------------------------------------- */

enum ykind {
	YK_NULL,
	YK_BOOL,
	YK_NUMBER,
	YK_STRING,
	YK_MAP,
	YK_SEQ,
};

/* One mapping member. */
struct yentry {
	char *key;		     /* key bytes (owned, NUL-terminated) */
	size_t keylen;		     /* bytes in key */
	unsigned line, col;	     /* 1-based position of the key */
	struct gq_yamldoc_node *val; /* value (owned) */
};

/* A YAML node with its type resolved and its source position. */
struct gq_yamldoc_node {
	char *text; /* YK_STRING bytes or YK_NUMBER JSON text (owned; freed once converted) */
	union {
		struct yentry *ents;		/* YK_MAP members (owned) */
		struct gq_yamldoc_node **items; /* YK_SEQ elements (owned) */
	};
	size_t weight;	    /* approximate memory of the subtree, bytes */
	enum ykind kind;    /* JSON type */
	unsigned line, col; /* 1-based position of the node */
	uint32_t len;	    /* bytes in text (input is at most 4 MiB) */
	uint32_t n, cap;    /* members/elements used and allocated */
	uint8_t height;	    /* nesting below this node (scalars 0; at most 64) */
	bool boolean;	    /* YK_BOOL value */
};

static struct gq_yamldoc_node *node_new(enum ykind kind, unsigned line, unsigned col)
{
	struct gq_yamldoc_node *n = gq_calloc(1, sizeof(*n));

	n->kind = kind;
	n->line = line;
	n->col = col;
	return n;
}

/* Frees a node and everything below it (NULL is fine). */
static void node_free(struct gq_yamldoc_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	if (n->kind == YK_MAP) {
		for (i = 0; i < n->n; i++) {
			free(n->ents[i].key);
			node_free(n->ents[i].val);
		}
	} else if (n->kind == YK_SEQ) {
		for (i = 0; i < n->n; i++)
			node_free(n->items[i]);
	}
	if (n->kind == YK_MAP)
		free(n->ents);
	else if (n->kind == YK_SEQ)
		free(n->items);
	free(n->text);
	free(n);
}

/* Returns a deep copy of n (owned by the caller). */
static struct gq_yamldoc_node *node_copy(const struct gq_yamldoc_node *n)
{
	struct gq_yamldoc_node *c = gq_malloc(sizeof(*c));
	size_t i;

	*c = *n;
	c->ents = NULL;
	c->cap = n->n;
	if (n->text != NULL) {
		c->text = gq_malloc(n->len + 1);
		memcpy(c->text, n->text, n->len + 1);
	}
	if (n->kind == YK_MAP && n->n > 0) {
		c->ents = gq_malloc(n->n * sizeof(*c->ents));
		for (i = 0; i < n->n; i++) {
			c->ents[i] = n->ents[i];
			c->ents[i].key = gq_malloc(n->ents[i].keylen + 1);
			memcpy(c->ents[i].key, n->ents[i].key, n->ents[i].keylen + 1);
			c->ents[i].val = node_copy(n->ents[i].val);
		}
	} else if (n->kind == YK_SEQ && n->n > 0) {
		c->items = gq_malloc(n->n * sizeof(*c->items));
		for (i = 0; i < n->n; i++)
			c->items[i] = node_copy(n->items[i]);
	}
	return c;
}

/* Recomputes height and weight of a node from its children. */
static void node_measure(struct gq_yamldoc_node *n)
{
	const struct gq_yamldoc_node *kid;
	size_t i;

	n->height = 0;
	n->weight = sizeof(*n) + n->len + 1;
	for (i = 0; i < n->n; i++) {
		kid = n->kind == YK_MAP ? n->ents[i].val : n->items[i];
		if (n->kind == YK_MAP)
			n->weight += sizeof(struct yentry) + n->ents[i].keylen + 1;
		else
			n->weight += sizeof(kid);
		n->weight += kid->weight;
		if (kid->height + 1 > n->height)
			n->height = kid->height + 1;
	}
	if (n->kind == YK_MAP || n->kind == YK_SEQ) {
		if (n->height == 0)
			n->height = 1;
	}
}

/* Appends a member to a mapping; key and val move into it. */
static void map_append(struct gq_yamldoc_node *m, const struct yentry *e)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 4;
		m->ents = gq_realloc(m->ents, m->cap * sizeof(*m->ents));
	}
	m->ents[m->n++] = *e;
}

/* Appends an element to a sequence; kid moves into it. */
static void seq_append(struct gq_yamldoc_node *s, struct gq_yamldoc_node *kid)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4;
		s->items = gq_realloc(s->items, s->cap * sizeof(*s->items));
	}
	s->items[s->n++] = kid;
}

/* ---- errors -------------------------------------------------------------- */

/* Sets a GQ_EPARSE error "LINE:COL: message" and returns GQ_EPARSE. */
static int perr(struct gq_err *err, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(struct gq_err *err, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return gq_err_set(err, GQ_EPARSE, "%u:%u: %s", line, col, msg);
}

/* Converts a byte offset into a 1-based line and column (in bytes). */
static void offset_pos(const char *data, size_t len, size_t off, unsigned *line, unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Turns a libyaml parser failure into a GQ_EPARSE with a position. */
static int parser_error(const yaml_parser_t *p, const char *data, size_t len, struct gq_err *err)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	unsigned line, col;

	if (p->error == YAML_MEMORY_ERROR)
		return gq_err_set(err, GQ_EPARSE, "yaml: out of memory");
	if (p->error == YAML_READER_ERROR) {
		offset_pos(data, len, p->problem_offset, &line, &col);
		if (p->problem_value >= 0)
			return perr(err, line, col, "%s (byte 0x%02x)", problem,
				    (unsigned)p->problem_value & 0xffu);
		return perr(err, line, col, "%s", problem);
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context != NULL)
		return perr(err, line, col, "%s (%s started at %u:%u)", problem, p->context,
			    (unsigned)p->context_mark.line + 1,
			    (unsigned)p->context_mark.column + 1);
	return perr(err, line, col, "%s", problem);
}

/* ---- scalar resolution ---------------------------------------------------- */

enum rtype {
	R_STR,
	R_NULL,
	R_BOOL,
	R_INT,
	R_FLOAT,
	R_NONFINITE, /* .inf / .nan: valid YAML, no JSON form */
};

/* Plain words with a fixed meaning (YAML 1.1 as go-yaml v2 resolves it). */
static const struct {
	const char *word;
	enum rtype type;
	bool value;
} plain_words[] = {
    {"y", R_BOOL, true},       {"Y", R_BOOL, true},	  {"yes", R_BOOL, true},
    {"Yes", R_BOOL, true},     {"YES", R_BOOL, true},	  {"true", R_BOOL, true},
    {"True", R_BOOL, true},    {"TRUE", R_BOOL, true},	  {"on", R_BOOL, true},
    {"On", R_BOOL, true},      {"ON", R_BOOL, true},	  {"n", R_BOOL, false},
    {"N", R_BOOL, false},      {"no", R_BOOL, false},	  {"No", R_BOOL, false},
    {"NO", R_BOOL, false},     {"false", R_BOOL, false},  {"False", R_BOOL, false},
    {"FALSE", R_BOOL, false},  {"off", R_BOOL, false},	  {"Off", R_BOOL, false},
    {"OFF", R_BOOL, false},    {"", R_NULL, false},	  {"~", R_NULL, false},
    {"null", R_NULL, false},   {"Null", R_NULL, false},	  {"NULL", R_NULL, false},
    {".nan", R_NONFINITE, 0},  {".NaN", R_NONFINITE, 0},  {".NAN", R_NONFINITE, 0},
    {".inf", R_NONFINITE, 0},  {".Inf", R_NONFINITE, 0},  {".INF", R_NONFINITE, 0},
    {"+.inf", R_NONFINITE, 0}, {"+.Inf", R_NONFINITE, 0}, {"+.INF", R_NONFINITE, 0},
    {"-.inf", R_NONFINITE, 0}, {"-.Inf", R_NONFINITE, 0}, {"-.INF", R_NONFINITE, 0},
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static unsigned digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (unsigned)(c - 'A' + 10);
	return 99;
}

/*
 * Parses s like Go's strconv.ParseInt(s, 0, 64), falling back to
 * ParseUint for unsigned values past INT64_MAX, and writes the decimal JSON
 * form into out. Returns false when s is not such an integer.
 */
static bool parse_int(const char *s, char *out, size_t outsz)
{
	const char *p = s;
	bool neg = false, sign = false;
	unsigned base = 10, d;
	uint64_t v = 0;

	if (*p == '+' || *p == '-') {
		sign = true;
		neg = *p == '-';
		p++;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1] != '\0') {
		base = 8;
		p++;
	}
	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++) {
		d = digit_value(*p);
		if (d >= base)
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (neg && v > (uint64_t)INT64_MAX + 1)
		return false;
	if (sign && !neg && v > (uint64_t)INT64_MAX)
		return false;
	snprintf(out, outsz, "%s%" PRIu64, neg && v != 0 ? "-" : "", v);
	return true;
}

/* Matches ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (go-yaml). */
static bool float_syntax(const char *p)
{
	if (*p == '+' || *p == '-')
		p++;
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return false;
		while (is_digit(*p))
			p++;
	} else {
		if (!is_digit(*p))
			return false;
		while (is_digit(*p))
			p++;
		if (*p == '.') {
			p++;
			while (is_digit(*p))
				p++;
		}
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return false;
		while (is_digit(*p))
			p++;
	}
	return *p == '\0';
}

/*
 * Parses a float in go-yaml syntax and writes its shortest round-trip JSON
 * form into out. Values that overflow a double are not floats (go-yaml
 * then keeps the text as a string).
 */
static bool parse_float(const char *s, char *out, size_t outsz)
{
	double d;
	int prec;

	if (!float_syntax(s))
		return false;
	errno = 0;
	d = strtod(s, NULL);
	if (!isfinite(d))
		return false;
	for (prec = 15; prec <= 17; prec++) {
		snprintf(out, outsz, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	return true;
}

/*
 * Resolves the text of a plain scalar. For R_INT and R_FLOAT the JSON
 * number is written to num (a buffer of numsz bytes); for R_BOOL *bval is
 * set.
 */
static enum rtype resolve_plain(const char *s, size_t len, bool *bval, char *num, size_t numsz)
{
	char *plain;
	size_t i, j;
	enum rtype t = R_STR;

	if (memchr(s, '\0', len) != NULL)
		return R_STR;
	for (i = 0; i < GQ_ARRAY_LEN(plain_words); i++) {
		if (strcmp(s, plain_words[i].word) == 0) {
			*bval = plain_words[i].value;
			return plain_words[i].type;
		}
	}
	if (s[0] == '.')
		return parse_float(s, num, numsz) ? R_FLOAT : R_STR;
	if (!is_digit(s[0]) && s[0] != '+' && s[0] != '-')
		return R_STR;
	/* go-yaml drops every '_' before trying numbers. */
	plain = gq_malloc(len + 1);
	for (i = 0, j = 0; i < len; i++) {
		if (s[i] != '_')
			plain[j++] = s[i];
	}
	plain[j] = '\0';
	if (parse_int(plain, num, numsz))
		t = R_INT;
	else if (parse_float(plain, num, numsz))
		t = R_FLOAT;
	free(plain);
	return t;
}

#define TAG_PREFIX "tag:yaml.org,2002:"

/*
 * Builds the node for a scalar event: applies its tag or, without one, the
 * plain/quoted rule. *merge is set for a plain, untagged "<<". Returns
 * GQ_OK with *out set (caller owns it) or GQ_EPARSE.
 */
static int scalar_node(const yaml_event_t *ev, struct gq_yamldoc_node **out, bool *merge,
		       struct gq_err *err)
{
	const char *val = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	unsigned line = (unsigned)ev->start_mark.line + 1;
	unsigned col = (unsigned)ev->start_mark.column + 1;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	const char *want = NULL;
	struct gq_yamldoc_node *n;
	enum rtype t = R_STR;
	char num[64];
	bool b = false;

	*out = NULL;
	*merge = plain && tag == NULL && len == 2 && memcmp(val, "<<", 2) == 0;
	if (tag != NULL && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
		want = tag + strlen(TAG_PREFIX);
		if (strcmp(want, "int") != 0 && strcmp(want, "float") != 0 &&
		    strcmp(want, "bool") != 0 && strcmp(want, "null") != 0)
			want = NULL; /* str, binary, timestamp, ...: a string */
		else
			t = resolve_plain(val, len, &b, num, sizeof(num));
	} else if (tag == NULL || strcmp(tag, "!") != 0) {
		if (plain)
			t = resolve_plain(val, len, &b, num, sizeof(num));
	}
	if (t == R_NONFINITE)
		return perr(err, line, col, "%.*s has no JSON representation", (int)len, val);
	if (want != NULL) {
		if ((strcmp(want, "int") == 0 && t != R_INT) ||
		    (strcmp(want, "float") == 0 && t != R_INT && t != R_FLOAT) ||
		    (strcmp(want, "bool") == 0 && t != R_BOOL) ||
		    (strcmp(want, "null") == 0 && t != R_NULL))
			return perr(err, line, col, "cannot decode !!%s \"%.*s\"", want,
				    len > 64 ? 64 : (int)len, val);
	}
	switch (t) {
	case R_NULL: n = node_new(YK_NULL, line, col); break;
	case R_BOOL:
		n = node_new(YK_BOOL, line, col);
		n->boolean = b;
		break;
	case R_INT:
	case R_FLOAT:
		n = node_new(YK_NUMBER, line, col);
		n->text = gq_strdup(num);
		n->len = strlen(num);
		break;
	default:
		n = node_new(YK_STRING, line, col);
		n->text = gq_malloc(len + 1);
		memcpy(n->text, val, len);
		n->text[len] = '\0';
		n->len = len;
		break;
	}
	node_measure(n);
	*out = n;
	return GQ_OK;
}

/* ---- builder ----------------------------------------------------------------- */

/* An open mapping or sequence. */
struct frame {
	struct gq_yamldoc_node *node;	 /* the collection being filled (owned) */
	char *anchor;			 /* its anchor name or NULL (owned) */
	bool have_key;			 /* a key waits for its value */
	bool merge_key;			 /* ... and that key is "<<" */
	struct yentry key;		 /* the waiting key (key.key owned) */
	struct gq_yamldoc_node **merges; /* mappings to merge at the end (borrowed) */
	size_t nmerges, capmerges;	 /* used / allocated in merges */
};

/* An anchor and the node it names. */
struct anchor {
	char *name;			    /* anchor name (owned) */
	const struct gq_yamldoc_node *node; /* borrowed: in the tree or the graveyard */
};

/* State of the document being built. */
struct builder {
	struct frame stack[GQ_YAMLDOC_MAX_DEPTH]; /* open collections */
	size_t depth;				  /* frames in use */
	struct anchor *anchors;			  /* anchors of this document */
	size_t nanchors, capanchors;		  /* used / allocated */
	struct gq_yamldoc_node *root;		  /* finished root node (owned) */
	struct gq_yamldoc_node *graveyard;	  /* consumed nodes anchors may name */
	unsigned aliases;			  /* aliases seen in this document */
	size_t alias_weight;			  /* bytes added by alias expansion */
	struct gq_err *err;			  /* where errors go */
};

static void frame_clear(struct frame *f)
{
	node_free(f->node);
	free(f->anchor);
	free(f->key.key);
	free(f->merges);
	memset(f, 0, sizeof(*f));
}

/* Frees everything the builder holds and readies it for the next document. */
static void builder_reset(struct builder *b)
{
	size_t i;

	while (b->depth > 0)
		frame_clear(&b->stack[--b->depth]);
	for (i = 0; i < b->nanchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
	b->anchors = NULL;
	b->nanchors = b->capanchors = 0;
	node_free(b->root);
	b->root = NULL;
	node_free(b->graveyard);
	b->graveyard = NULL;
	b->aliases = 0;
	b->alias_weight = 0;
}

/*
 * Records an anchor for node (borrowed: a node is never freed before the
 * end of its document once it may carry an anchor). A later definition of
 * the same name shadows the earlier one.
 */
static void anchor_set(struct builder *b, const char *name, const struct gq_yamldoc_node *node)
{
	if (b->nanchors == b->capanchors) {
		b->capanchors = b->capanchors ? b->capanchors * 2 : 8;
		b->anchors = gq_realloc(b->anchors, b->capanchors * sizeof(*b->anchors));
	}
	b->anchors[b->nanchors].name = gq_strdup(name);
	b->anchors[b->nanchors].node = node;
	b->nanchors++;
}

/* The latest node anchored as name, or NULL. Called at most once per alias. */
static const struct gq_yamldoc_node *anchor_find(const struct builder *b, const char *name)
{
	size_t i;

	for (i = b->nanchors; i > 0; i--) {
		if (strcmp(b->anchors[i - 1].name, name) == 0)
			return b->anchors[i - 1].node;
	}
	return NULL;
}

/*
 * Disposes of a node that leaves the tree (a consumed key or merge source):
 * it is kept until the end of the document because an anchor may name it
 * or something inside it.
 */
static void bury(struct builder *b, struct gq_yamldoc_node *n)
{
	if (b->graveyard == NULL)
		b->graveyard = node_new(YK_SEQ, 0, 0);
	seq_append(b->graveyard, n);
}

/* Queues the value of a "<<" key: a mapping or a sequence of mappings. */
static int frame_add_merge(struct builder *b, struct frame *f, struct gq_yamldoc_node *v)
{
	unsigned line, col;
	size_t i, need;

	if (v->kind == YK_SEQ) {
		for (i = 0; i < v->n; i++) {
			if (v->items[i]->kind != YK_MAP)
				goto bad;
		}
	} else if (v->kind != YK_MAP) {
		goto bad;
	}
	need = f->nmerges + (v->kind == YK_SEQ ? v->n : 1);
	if (need > f->capmerges) {
		f->capmerges = need * 2;
		f->merges = gq_realloc(f->merges, f->capmerges * sizeof(*f->merges));
	}
	if (v->kind == YK_MAP) {
		f->merges[f->nmerges++] = v;
	} else {
		for (i = 0; i < v->n; i++)
			f->merges[f->nmerges++] = v->items[i];
	}
	bury(b, v);
	return GQ_OK;
bad:
	line = v->line;
	col = v->col;
	node_free(v);
	return perr(b->err, line, col,
		    "the value of a merge key (<<) must be a mapping or a sequence of mappings");
}

/*
 * Places a finished node: as the document root, as a sequence element, as
 * a mapping key (which must be a string) or as a mapping value. anchor (may
 * be NULL) is registered first. merge says the node is a "<<" key; raw
 * (may be NULL) is the scalar's source text, for error messages. Takes
 * ownership of node in every case.
 */
static int builder_add(struct builder *b, struct gq_yamldoc_node *node, const char *anchor,
		       bool merge, const char *raw, size_t rawlen)
{
	struct frame *f;
	struct yentry e;
	const char *what;

	if (anchor != NULL)
		anchor_set(b, anchor, node);
	if (b->depth == 0) {
		node_free(b->root);
		b->root = node;
		return GQ_OK;
	}
	f = &b->stack[b->depth - 1];
	if (f->node->kind == YK_SEQ) {
		seq_append(f->node, node);
		return GQ_OK;
	}
	if (!f->have_key) {
		if (node->kind != YK_STRING && !merge) {
			what = node->kind == YK_MAP    ? "a mapping"
			       : node->kind == YK_SEQ  ? "a sequence"
			       : node->kind == YK_NULL ? "null"
			       : node->kind == YK_BOOL ? "a boolean"
						       : "a number";
			e.line = node->line;
			e.col = node->col;
			node_free(node);
			if (raw != NULL && rawlen > 0)
				return perr(b->err, e.line, e.col,
					    "mapping key %.*s is %s, not a string (quote it)",
					    rawlen > 64 ? 64 : (int)rawlen, raw, what);
			return perr(b->err, e.line, e.col, "mapping key is %s, not a string", what);
		}
		if (!merge && memchr(node->text, '\0', node->len) != NULL) {
			e.line = node->line;
			e.col = node->col;
			node_free(node);
			return perr(b->err, e.line, e.col, "mapping key contains a NUL character");
		}
		f->have_key = true;
		f->merge_key = merge;
		f->key.line = node->line;
		f->key.col = node->col;
		f->key.key = merge ? NULL : gq_strndup(node->text, node->len);
		f->key.keylen = node->len;
		if (anchor != NULL)
			bury(b, node);
		else
			node_free(node);
		return GQ_OK;
	}
	f->have_key = false;
	if (f->merge_key) {
		f->merge_key = false;
		return frame_add_merge(b, f, node);
	}
	e = f->key;
	e.val = node;
	memset(&f->key, 0, sizeof(f->key));
	map_append(f->node, &e);
	return GQ_OK;
}

/* A mapping member and where it came from, for duplicate detection. */
struct keyref {
	const struct yentry *e; /* the member */
	size_t pos;		/* index in the mapping (explicit members first) */
};

static int keyref_cmp(const void *pa, const void *pb)
{
	const struct keyref *a = pa, *b = pb;
	size_t n = a->e->keylen < b->e->keylen ? a->e->keylen : b->e->keylen;
	int c = memcmp(a->e->key, b->e->key, n);

	if (c != 0)
		return c;
	if (a->e->keylen != b->e->keylen)
		return a->e->keylen < b->e->keylen ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/*
 * Completes a mapping: appends the members of queued merge sources, rejects
 * duplicate explicit keys and drops merged members that an explicit key or
 * an earlier merge source already provides. O(n log n).
 */
static int map_finish(struct builder *b, struct frame *f)
{
	struct gq_yamldoc_node *m = f->node;
	size_t nexplicit = m->n, i, j, k;
	struct keyref *refs;
	struct yentry e;
	bool *drop;
	int rc = GQ_OK;

	for (i = 0; i < f->nmerges; i++) {
		for (j = 0; j < f->merges[i]->n; j++) {
			e = f->merges[i]->ents[j];
			e.key = gq_strndup(e.key, e.keylen);
			e.val = node_copy(e.val);
			map_append(m, &e);
		}
	}
	f->nmerges = 0;
	if (m->n < 2)
		return GQ_OK;
	refs = gq_malloc(m->n * sizeof(*refs));
	drop = gq_calloc(m->n, sizeof(*drop));
	for (i = 0; i < m->n; i++) {
		refs[i].e = &m->ents[i];
		refs[i].pos = i;
	}
	qsort(refs, m->n, sizeof(*refs), keyref_cmp);
	for (i = 1; i < m->n; i++) {
		if (refs[i].e->keylen != refs[i - 1].e->keylen ||
		    memcmp(refs[i].e->key, refs[i - 1].e->key, refs[i].e->keylen) != 0)
			continue;
		if (refs[i].pos < nexplicit) {
			rc = perr(b->err, refs[i].e->line, refs[i].e->col,
				  "duplicate mapping key \"%.*s\"",
				  refs[i].e->keylen > 64 ? 64 : (int)refs[i].e->keylen,
				  refs[i].e->key);
			goto out;
		}
		drop[refs[i].pos] = true;
	}
	for (i = 0, k = 0; i < m->n; i++) {
		if (drop[i]) {
			free(m->ents[i].key);
			node_free(m->ents[i].val);
		} else {
			m->ents[k++] = m->ents[i];
		}
	}
	m->n = k;
out:
	free(refs);
	free(drop);
	return rc;
}

/* Opens a mapping or sequence. */
static int on_start(struct builder *b, const yaml_event_t *ev, enum ykind kind)
{
	const yaml_char_t *anchor =
	    kind == YK_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	struct frame *f;

	if (b->depth >= GQ_YAMLDOC_MAX_DEPTH)
		return perr(b->err, (unsigned)ev->start_mark.line + 1,
			    (unsigned)ev->start_mark.column + 1,
			    "document nested deeper than %d levels", GQ_YAMLDOC_MAX_DEPTH);
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node =
	    node_new(kind, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1);
	if (anchor != NULL)
		f->anchor = gq_strdup((const char *)anchor);
	return GQ_OK;
}

/* Closes the innermost mapping or sequence and places it. */
static int on_end(struct builder *b)
{
	struct frame f;
	int rc;

	if (b->depth == 0)
		return gq_err_set(b->err, GQ_EPARSE, "yaml: unbalanced collection end");
	f = b->stack[--b->depth];
	memset(&b->stack[b->depth], 0, sizeof(b->stack[b->depth]));
	if (f.node->kind == YK_MAP) {
		rc = map_finish(b, &f);
		if (rc != GQ_OK)
			goto out;
	}
	node_measure(f.node);
	rc = builder_add(b, f.node, f.anchor, false, NULL, 0);
	f.node = NULL;
out:
	frame_clear(&f);
	return rc;
}

/* Expands an alias by copying its anchor's node, within the budgets. */
static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	unsigned line = (unsigned)ev->start_mark.line + 1;
	unsigned col = (unsigned)ev->start_mark.column + 1;
	const struct gq_yamldoc_node *target;
	struct gq_yamldoc_node *copy;

	if (++b->aliases > GQ_YAMLDOC_MAX_ALIASES)
		return perr(b->err, line, col, "more than %d aliases in one document",
			    GQ_YAMLDOC_MAX_ALIASES);
	target = anchor_find(b, name);
	if (target == NULL)
		return perr(b->err, line, col, "unknown anchor \"%.64s\"", name);
	if (target->weight > GQ_YAMLDOC_MAX_ALIAS_WEIGHT - b->alias_weight)
		return perr(b->err, line, col, "aliases expand to more than %zu bytes",
			    GQ_YAMLDOC_MAX_ALIAS_WEIGHT);
	b->alias_weight += target->weight;
	if (b->depth + target->height > GQ_YAMLDOC_MAX_DEPTH)
		return perr(b->err, line, col, "document nested deeper than %d levels",
			    GQ_YAMLDOC_MAX_DEPTH);
	copy = node_copy(target);
	copy->line = line;
	copy->col = col;
	return builder_add(b, copy, NULL, false, NULL, 0);
}

/* ---- JSON output ------------------------------------------------------------- */

static bool emit(yajl_gen g, const struct gq_yamldoc_node *n)
{
	size_t i;

	switch (n->kind) {
	case YK_NULL: return yajl_gen_null(g) == yajl_gen_status_ok;
	case YK_BOOL: return yajl_gen_bool(g, n->boolean) == yajl_gen_status_ok;
	case YK_NUMBER: return yajl_gen_number(g, n->text, n->len) == yajl_gen_status_ok;
	case YK_STRING:
		return yajl_gen_string(g, (const unsigned char *)n->text, n->len) ==
		       yajl_gen_status_ok;
	case YK_MAP:
		if (yajl_gen_map_open(g) != yajl_gen_status_ok)
			return false;
		for (i = 0; i < n->n; i++) {
			if (yajl_gen_string(g, (const unsigned char *)n->ents[i].key,
					    n->ents[i].keylen) != yajl_gen_status_ok ||
			    !emit(g, n->ents[i].val))
				return false;
		}
		return yajl_gen_map_close(g) == yajl_gen_status_ok;
	case YK_SEQ:
		if (yajl_gen_array_open(g) != yajl_gen_status_ok)
			return false;
		for (i = 0; i < n->n; i++) {
			if (!emit(g, n->items[i]))
				return false;
		}
		return yajl_gen_array_close(g) == yajl_gen_status_ok;
	}
	return false;
}

/* Frees scalar contents once they are in the JSON: the tree keeps positions only. */
static void strip_text(struct gq_yamldoc_node *n)
{
	uint32_t i;

	free(n->text);
	n->text = NULL;
	n->len = 0;
	for (i = 0; i < n->n; i++)
		strip_text(n->kind == YK_MAP ? n->ents[i].val : n->items[i]);
}

/*
 * Finishes a document: skips it when empty, otherwise converts the node
 * tree to JSON text and a yajl tree and appends it to the list (which
 * takes the node tree from the builder).
 */
static int doc_finish(struct builder *b, struct gq_yamldoc_list *l, size_t *cap, unsigned line)
{
	struct gq_yamldoc *d;
	const unsigned char *buf;
	char ebuf[256];
	yajl_val tree;
	size_t blen;
	yajl_gen g;
	char *json;

	if (b->root == NULL || b->root->kind == YK_NULL)
		return GQ_OK;
	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		abort();
	if (!emit(g, b->root) || yajl_gen_get_buf(g, &buf, &blen) != yajl_gen_status_ok) {
		yajl_gen_free(g);
		return gq_err_set(b->err, GQ_EPARSE, "%u:1: cannot convert document to JSON", line);
	}
	json = gq_strndup((const char *)buf, blen);
	yajl_gen_free(g);
	strip_text(b->root);
	ebuf[0] = '\0';
	tree = yajl_tree_parse(json, ebuf, sizeof(ebuf));
	if (tree == NULL) {
		free(json);
		return gq_err_set(b->err, GQ_EPARSE, "%u:1: generated JSON rejected: %s", line,
				  ebuf);
	}
	if (l->n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		l->docs = gq_realloc(l->docs, *cap * sizeof(*l->docs));
	}
	d = &l->docs[l->n++];
	d->root = tree;
	d->json = json;
	d->json_len = blen;
	d->line = line;
	d->src = b->root;
	b->root = NULL;
	return GQ_OK;
}

/* Handles one parser event; *done is set at the end of the stream. */
static int on_event(struct builder *b, const yaml_event_t *ev, struct gq_yamldoc_list *l,
		    size_t *cap, unsigned *doc_line, bool *done)
{
	struct gq_yamldoc_node *n;
	bool merge;
	int rc;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT: *done = true; return GQ_OK;
	case YAML_DOCUMENT_START_EVENT: *doc_line = (unsigned)ev->start_mark.line + 1; return GQ_OK;
	case YAML_DOCUMENT_END_EVENT:
		rc = doc_finish(b, l, cap, *doc_line);
		builder_reset(b);
		return rc;
	case YAML_SCALAR_EVENT:
		rc = scalar_node(ev, &n, &merge, b->err);
		if (rc != GQ_OK)
			return rc;
		return builder_add(b, n, (const char *)ev->data.scalar.anchor, merge,
				   (const char *)ev->data.scalar.value, ev->data.scalar.length);
	case YAML_SEQUENCE_START_EVENT: return on_start(b, ev, YK_SEQ);
	case YAML_MAPPING_START_EVENT: return on_start(b, ev, YK_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: return on_end(b);
	case YAML_ALIAS_EVENT: return on_alias(b, ev);
	default: return GQ_OK;
	}
}

/* ---- public API ---------------------------------------------------------------- */

int gq_yamldoc_parse(struct gq_yamldoc_list *out, const char *data, size_t len, struct gq_err *err)
{
	struct gq_yamldoc_list l = {0};
	struct builder b;
	yaml_parser_t p;
	yaml_event_t ev;
	unsigned doc_line = 1;
	bool done = false;
	size_t cap = 0;
	int rc = GQ_OK;

	out->docs = NULL;
	out->n = 0;
	if (len > GQ_YAMLDOC_MAX_INPUT)
		return gq_err_set(err, GQ_ETOOBIG, "yaml: input is %zu bytes, more than %zu", len,
				  GQ_YAMLDOC_MAX_INPUT);
	memset(&b, 0, sizeof(b));
	b.err = err;
	if (!yaml_parser_initialize(&p))
		abort();
	yaml_parser_set_input_string(&p, (const unsigned char *)(data ? data : ""), len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = parser_error(&p, data, len, err);
			break;
		}
		rc = on_event(&b, &ev, &l, &cap, &doc_line, &done);
		yaml_event_delete(&ev);
		if (rc != GQ_OK)
			break;
	}
	builder_reset(&b);
	yaml_parser_delete(&p);
	if (rc != GQ_OK) {
		gq_yamldoc_list_free(&l);
		return rc;
	}
	*out = l;
	return GQ_OK;
}

int gq_yamldoc_parse_file(struct gq_yamldoc_list *out, const char *path, struct gq_err *err)
{
	char *data;
	size_t len;
	int rc;

	out->docs = NULL;
	out->n = 0;
	rc = gq_read_file(path, GQ_YAMLDOC_MAX_INPUT, &data, &len, err);
	if (rc != GQ_OK)
		return rc;
	rc = gq_yamldoc_parse(out, data, len, err);
	free(data);
	return rc;
}

void gq_yamldoc_list_free(struct gq_yamldoc_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		yajl_tree_free(l->docs[i].root);
		free(l->docs[i].json);
		node_free(l->docs[i].src);
	}
	free(l->docs);
	l->docs = NULL;
	l->n = 0;
}

/*
 * Follows one path segment from n: a key of a mapping or a decimal index of
 * a sequence. Returns the child (borrowed) and its position, or NULL.
 */
static const struct gq_yamldoc_node *step(const struct gq_yamldoc_node *n, const char *seg,
					  unsigned *line, unsigned *col)
{
	size_t i, idx = 0, seglen = strlen(seg);

	if (n->kind == YK_MAP) {
		for (i = 0; i < n->n; i++) {
			if (n->ents[i].keylen == seglen &&
			    memcmp(n->ents[i].key, seg, seglen) == 0) {
				*line = n->ents[i].line;
				*col = n->ents[i].col;
				return n->ents[i].val;
			}
		}
		return NULL;
	}
	if (n->kind != YK_SEQ || seglen == 0 || seglen > 18)
		return NULL;
	for (i = 0; i < seglen; i++) {
		if (!is_digit(seg[i]))
			return NULL;
		idx = idx * 10 + (size_t)(seg[i] - '0');
	}
	if (idx >= n->n)
		return NULL;
	*line = n->items[idx]->line;
	*col = n->items[idx]->col;
	return n->items[idx];
}

/*
 * Walks path as far as it exists. Returns the number of segments matched
 * and the position of the last matched node (the root for zero).
 */
static size_t walk(const struct gq_yamldoc *doc, const char *const *path, unsigned *line,
		   unsigned *col)
{
	const struct gq_yamldoc_node *n = doc->src;
	size_t i = 0;

	*line = n ? n->line : doc->line;
	*col = n ? n->col : 1;
	if (n == NULL || path == NULL)
		return 0;
	for (; path[i] != NULL; i++) {
		n = step(n, path[i], line, col);
		if (n == NULL)
			break;
	}
	return i;
}

int gq_yamldoc_pos(const struct gq_yamldoc *doc, const char *const *path, unsigned *line,
		   unsigned *col)
{
	unsigned l, c;
	size_t depth = 0, got;

	if (doc == NULL || doc->src == NULL)
		return GQ_ENOTFOUND;
	while (path != NULL && path[depth] != NULL)
		depth++;
	got = walk(doc, path, &l, &c);
	if (got != depth)
		return GQ_ENOTFOUND;
	if (line != NULL)
		*line = l;
	if (col != NULL)
		*col = c;
	return GQ_OK;
}

unsigned gq_yamldoc_line(const struct gq_yamldoc *doc, const char *const *path)
{
	unsigned line = 0;

	if (gq_yamldoc_pos(doc, path, &line, NULL) != GQ_OK)
		return 0;
	return line;
}

unsigned gq_yamldoc_line_nearest(const struct gq_yamldoc *doc, const char *const *path)
{
	unsigned line, col;

	if (doc == NULL)
		return 0;
	if (walk(doc, path, &line, &col) == 0)
		return doc->line;
	return line;
}
