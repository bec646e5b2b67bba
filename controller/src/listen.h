/*
 * listen.h - accept back-off for libevent listeners: when accept(2) fails
 * because descriptors or memory ran out (EMFILE, ENFILE, ENOBUFS, ENOMEM),
 * the listener is disabled for a while (100 ms, doubling up to 1 s while
 * the failures go on) instead of retrying at once in a busy loop, and one
 * warning line is logged at most every 10 s with the count of failures
 * since the last line. Other accept errors (a peer that reset before the
 * accept) are ignored, as libevent would retry them anyway.
 *
 * Threading: the loop thread of the listener's event_base.
 */
#ifndef GQ_LISTEN_H
#define GQ_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#include "gq.h"

struct evconnlistener;

/*
 * The one listen-address parser: splits "host:port", "[v6]:port" or
 * ":port" into host (host_len bytes, without brackets; an empty host
 * becomes 0.0.0.0) and *port (0..65535). Pure. GQ_OK or GQ_EINVAL with the
 * reason in err.
 */
int gq_listen_parse_addr(const char *addr, char *host, size_t host_len, int *port,
			 struct gq_err *err);

/* Opaque back-off state of one listener. */
struct gq_listen_backoff;

/* Counters of one listener's back-off. */
struct gq_listen_backoff_stats {
	uint64_t failures; /* accept(2) failures for lack of descriptors or memory */
	uint64_t pauses;   /* times the listener was disabled */
	uint64_t logged;   /* warning lines written */
};

/*
 * Installs the back-off on l (borrowed; it must outlive the returned state,
 * which the caller frees with gq_listen_backoff_free before freeing l).
 * what names the listener in the log ("webhook", "health"). Never NULL.
 */
struct gq_listen_backoff *gq_listen_backoff_install(struct evconnlistener *l, const char *what);

void gq_listen_backoff_get_stats(const struct gq_listen_backoff *b,
				 struct gq_listen_backoff_stats *st);

/* Removes the back-off from its listener and frees it (NULL is fine). */
void gq_listen_backoff_free(struct gq_listen_backoff *b);

#endif
