/*
 * listen.c - accept back-off on descriptor exhaustion (see listen.h).
 */
#include "listen.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "gq.h"
#include "log.h"

/* First and longest pause of the listener, and the gap between log lines. */
#define LISTEN_PAUSE_MIN_MS 100
#define LISTEN_PAUSE_MAX_MS 1000
#define LISTEN_LOG_EVERY_S  10
/* Most listeners with a back-off at a time (the process has three). */
#define LISTEN_MAX 16

struct gq_listen_backoff {
	struct evconnlistener *l; /* borrowed */
	struct event *timer;	  /* owned: re-enables the listener */
	char what[32];		  /* name in the log */
	int pause_ms;		  /* current pause */
	bool paused;		  /* listener disabled, timer pending */
	int64_t last_log_s;	  /* monotonic second of the last line; 0 = never */
	int64_t resumed_ms;	  /* monotonic ms of the last resume */
	uint64_t unlogged;	  /* failures since the last line */
	struct gq_listen_backoff_stats st;
};

/*
 * libevent hands the error callback the listener's own argument (evhttp's),
 * so the states are found by listener in this table.
 */
static struct gq_listen_backoff *listen_table[LISTEN_MAX];
static pthread_mutex_t listen_mu = PTHREAD_MUTEX_INITIALIZER;

/* The state installed on l, or NULL. */
static struct gq_listen_backoff *listen_find(const struct evconnlistener *l)
{
	struct gq_listen_backoff *b = NULL;

	pthread_mutex_lock(&listen_mu);
	for (size_t i = 0; i < LISTEN_MAX && b == NULL; i++)
		if (listen_table[i] != NULL && listen_table[i]->l == l)
			b = listen_table[i];
	pthread_mutex_unlock(&listen_mu);
	return b;
}

/* End of a pause: accept again (the pause grows if accept fails again). */
static void listen_resume(evutil_socket_t fd, short what, void *arg)
{
	struct gq_listen_backoff *b = arg;

	(void)fd, (void)what;
	b->paused = false;
	b->resumed_ms = gq_mono_ms();
	evconnlistener_enable(b->l);
}

/* libevent's accept error callback (errno holds the error). */
static void listen_error(struct evconnlistener *l, void *arg)
{
	struct gq_listen_backoff *b = listen_find(l);
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv;
	int64_t now, now_ms;

	(void)arg;
	if (b == NULL || (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM))
		return;
	b->st.failures++;
	b->unlogged++;
	now_ms = gq_mono_ms();
	now = now_ms / 1000 + 1; /* never 0 */
	if (b->last_log_s == 0 || now - b->last_log_s >= LISTEN_LOG_EVERY_S) {
		gq_warn("%s: accept failed, pausing new connections | error=%s failures=%llu",
			b->what, strerror(e), (unsigned long long)b->unlogged);
		b->last_log_s = now;
		b->unlogged = 0;
		b->st.logged++;
	}
	if (b->paused)
		return;
	/* a failure soon after the previous pause ended: the shortage goes on */
	if (b->pause_ms == 0 || now_ms - b->resumed_ms > 2 * LISTEN_PAUSE_MAX_MS)
		b->pause_ms = LISTEN_PAUSE_MIN_MS;
	else
		b->pause_ms *= 2;
	if (b->pause_ms > LISTEN_PAUSE_MAX_MS)
		b->pause_ms = LISTEN_PAUSE_MAX_MS;
	evconnlistener_disable(b->l);
	b->paused = true;
	b->st.pauses++;
	tv.tv_sec = b->pause_ms / 1000;
	tv.tv_usec = (b->pause_ms % 1000) * 1000;
	evtimer_add(b->timer, &tv);
}

struct gq_listen_backoff *gq_listen_backoff_install(struct evconnlistener *l, const char *what)
{
	struct gq_listen_backoff *b = gq_calloc(1, sizeof(*b));

	b->l = l;
	snprintf(b->what, sizeof(b->what), "%s", what);
	b->timer = evtimer_new(evconnlistener_get_base(l), listen_resume, b);
	if (b->timer == NULL)
		abort();
	pthread_mutex_lock(&listen_mu);
	for (size_t i = 0; i < LISTEN_MAX; i++)
		if (listen_table[i] == NULL) {
			listen_table[i] = b;
			break;
		}
	pthread_mutex_unlock(&listen_mu);
	evconnlistener_set_error_cb(l, listen_error);
	return b;
}

void gq_listen_backoff_get_stats(const struct gq_listen_backoff *b,
				 struct gq_listen_backoff_stats *st)
{
	*st = b->st;
}

void gq_listen_backoff_free(struct gq_listen_backoff *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&listen_mu);
	for (size_t i = 0; i < LISTEN_MAX; i++)
		if (listen_table[i] == b)
			listen_table[i] = NULL;
	pthread_mutex_unlock(&listen_mu);
	event_free(b->timer);
	free(b);
}

/* Whether s is a non-empty string of decimal digits. */
static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int gq_listen_parse_addr(const char *addr, char *host, size_t host_len, int *port,
			 struct gq_err *err)
{
	const char *h = addr, *host_end, *p;
	long v;

	if (addr == NULL || strnlen(addr, host_len + 9) > host_len + 8)
		return gq_err_set(err, GQ_EINVAL, "missing or oversized listen address");
	if (addr[0] == '[') {
		h = addr + 1;
		host_end = strchr(h, ']');
		if (host_end == NULL || host_end[1] != ':')
			goto bad;
		p = host_end + 2;
	} else {
		host_end = strrchr(addr, ':');
		if (host_end == NULL || memchr(addr, ':', (size_t)(host_end - addr)) != NULL)
			goto bad;
		p = host_end + 1;
	}
	if ((size_t)(host_end - h) >= host_len || !all_digits(p) || strlen(p) > 5)
		goto bad;
	v = strtol(p, NULL, 10);
	if (v > 65535)
		goto bad;
	if (host_end == h)
		snprintf(host, host_len, "0.0.0.0");
	else
		snprintf(host, host_len, "%.*s", (int)(host_end - h), h);
	*port = (int)v;
	return GQ_OK;
bad:
	return gq_err_set(err, GQ_EINVAL,
			  "bad listen address \"%.64s\" (want host:port or [v6]:port)", addr);
}
