/*
 * jsonstream.h - decoder for streams of concatenated JSON objects, such as a
 * Kubernetes watch response ({"type":...,"object":{...}} values, usually one
 * per line but never guaranteed to be).
 *
 * Bytes are fed in arbitrary chunks (a chunk may end inside a token, a string
 * or an escape sequence). A yajl SAX parser with yajl_allow_multiple_values
 * and a nesting-depth counter finds where each top-level value ends; the
 * bytes of the current value are kept in a bounded buffer and, once the value
 * is complete, parsed with yajl_tree_parse and handed to a callback.
 *
 * Every top-level value must be an object; whitespace between values is
 * ignored. Any error (malformed JSON, a non-object top-level value, a value
 * larger than the bound, nesting deeper than GQ_JSONSTREAM_MAX_DEPTH, or a
 * nonzero callback return) is sticky: later feeds return the same code
 * without parsing until gq_jsonstream_reset.
 *
 * The second half of this header decodes one watch event value into a
 * struct gq_watch_event (borrowed pointers into the tree).
 */
#ifndef GQ_JSONSTREAM_H
#define GQ_JSONSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "buf.h"
#include "gq.h"

/* Deepest nesting accepted (Kubernetes objects stay far below; the bound
 * keeps yajl_tree_free's recursion shallow). Deeper input is GQ_EPARSE. */
#define GQ_JSONSTREAM_MAX_DEPTH 256

/*
 * Called once per complete top-level object. value is owned by the stream
 * and freed as soon as the callback returns (copy what must outlive it).
 * A nonzero return stops the stream: gq_jsonstream_feed returns that value.
 * The callback must not call feed/reset/free on the same stream.
 */
typedef int (*gq_jsonstream_cb)(void *payload, yajl_val value);

struct gq_jsonstream {
	yajl_handle h;	   /* SAX parser, allow_multiple_values */
	struct gq_buf buf; /* bytes of the current (incomplete) value */
	gq_jsonstream_cb cb;
	void *payload;
	int depth;	   /* current nesting depth, 0 between values */
	int rc;		   /* sticky status, GQ_OK while usable */
	bool junk;	   /* non-whitespace bytes pending outside a value */
	size_t offset;	   /* bytes fed since init/reset (for messages) */
	size_t nvalues;	   /* values delivered since init/reset */
	struct gq_err err; /* message for the last failure */
	/* valid only during gq_jsonstream_feed: */
	const char *chunk; /* chunk being parsed */
	size_t rec_start;  /* offset in chunk where the current value starts */
	size_t tail_start; /* offset in chunk just after the last value ended */
};

/*
 * Initialises s for values of at most max bytes each (e.g. 16 MiB), calling
 * cb(payload, value) for each complete top-level object. Aborts on OOM.
 * Release with gq_jsonstream_free.
 */
void gq_jsonstream_init(struct gq_jsonstream *s, size_t max, gq_jsonstream_cb cb, void *payload);

/* Releases everything s holds; s may be re-initialised afterwards. */
void gq_jsonstream_free(struct gq_jsonstream *s);

/*
 * Discards any partial value and error state so that s can decode a new
 * stream (after a reconnect). Keeps max, cb and payload.
 */
void gq_jsonstream_reset(struct gq_jsonstream *s);

/*
 * Feeds len bytes (any split). Returns GQ_OK, GQ_EPARSE (s->err.msg says
 * why), GQ_ETOOBIG (a value exceeds max), or the callback's nonzero return.
 * data is only read during the call.
 */
int gq_jsonstream_feed(struct gq_jsonstream *s, const char *data, size_t len);

/*
 * To be called when the byte stream ends: GQ_OK when it ended between values,
 * GQ_EPARSE when it stopped inside a value (truncated), or the sticky status.
 */
int gq_jsonstream_finish(struct gq_jsonstream *s);

/* True while a value has started but not yet completed. */
bool gq_jsonstream_in_value(const struct gq_jsonstream *s);

/* ---- watch events ---- */

enum gq_watch_type {
	GQ_WATCH_ADDED,
	GQ_WATCH_MODIFIED,
	GQ_WATCH_DELETED,
	GQ_WATCH_BOOKMARK,
	GQ_WATCH_ERROR,
};

/*
 * One decoded watch event. Every pointer is borrowed from the yajl tree
 * passed to gq_watch_event_decode and is valid only as long as that tree.
 */
struct gq_watch_event {
	enum gq_watch_type type;
	yajl_val object;	      /* the "object" member (an object) */
	const char *resource_version; /* object.metadata.resourceVersion, or NULL */
	/* ERROR events (object is a metav1.Status); 0/NULL otherwise or absent: */
	int code;	     /* Status.code, e.g. 410 */
	const char *reason;  /* Status.reason, e.g. "Expired", "Gone" */
	const char *message; /* Status.message */
};

/*
 * Decodes the watch event v into ev. Requires v to be an object with a
 * string "type" among ADDED/MODIFIED/DELETED/BOOKMARK/ERROR and an object
 * "object"; a BOOKMARK must carry metadata.resourceVersion. Other members
 * are optional (NULL/0 when absent or of the wrong type). Returns GQ_OK or
 * GQ_EPARSE with a message in err. ev borrows from v.
 */
int gq_watch_event_decode(struct gq_watch_event *ev, yajl_val v, struct gq_err *err);

/* True for an ERROR event meaning "resource version too old, relist":
 * code 410 or reason Expired/Gone. */
bool gq_watch_event_is_gone(const struct gq_watch_event *ev);

/* "ADDED", "MODIFIED", ... for logging; "UNKNOWN" for other values. */
const char *gq_watch_type_name(enum gq_watch_type t);

#endif
