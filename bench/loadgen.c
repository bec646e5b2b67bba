/*
 * loadgen.c - open-loop HTTPS load generator for bench/run.sh: sends POST
 * requests at a fixed rate over a fixed set of keep-alive TLS connections
 * and reports the latency distribution.
 *
 * Why not h2load --rps: its per-client timers run in lockstep, so the
 * requests leave in bursts (all clients of a thread at the same
 * microsecond) and the reported latency is mostly the queue of the burst;
 * and it measures from the actual send, hiding any queueing it caused
 * itself (coordinated omission). wrk (Debian's 4.1) has no fixed rate.
 *
 * Method (as wrk2): request i is due at t0 + i / rate (constant spacing). At
 * its due time it goes to an idle connection, or waits in a FIFO until one
 * is free. Latency is measured from the due time to the end of the response
 * (so a slow server is charged for the requests it delayed), and also from
 * the actual send for comparison. Requests due during the warm-up are sent
 * but not counted. One thread runs everything on a libevent loop with
 * precise (timerfd) timers; TCP_NODELAY; ALPN http/1.1 and the server
 * certificate verified against --cafile for the IP 127.0.0.1, as the
 * apiserver would for its address.
 *
 * Responses must carry Content-Length (both servers benchmarked do); a
 * response without it, a status other than 200, or a broken connection
 * counts as an error (the connection is re-opened).
 *
 * Output, on stdout, one line:
 *   LOADGEN {"rate":..,"sent":..,"measured":..,"completed":..,"errors":..,
 *            "non200":..,"incomplete":..,"achieved_rps":..,"p50_us":..,...}
 *
 * loadgen --pauses S measures the host instead: a thread that only reads
 * the clock for S seconds and records every gap between two reads longer
 * than 1 ms, i.e. times it was not running although it never blocked
 * (preemption by other processes or by the hypervisor). A server suffers
 * the same pauses, and they set the latency tail. Output:
 *   PAUSES {"seconds":..,"over_1ms":..,"over_5ms":..,"max_us":..,"paused_pct":..}
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "gq.h"

#define MAX_CONNS     1024
#define MAX_BODY      (4 << 20)
#define MAX_HEAD      16384
#define MAX_REQUESTS  (50 * 1000 * 1000)
#define DRAIN_NS      (2 * NS_PER_S)
#define CONNECT_NS    (5 * NS_PER_S)
#define NS_PER_S      1000000000LL
#define MAX_RECONNECT 1000

enum conn_state { C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
	struct lg *lg;
	struct bufferevent *bev;
	enum conn_state state;
	int64_t due_ns;	 /* due time of the request in flight */
	int64_t sent_ns; /* when it was written */
	bool measured;	 /* whether it counts */
	/* response being read */
	bool in_body;
	int status;
	size_t body_left;
	bool close_after;
};

struct lg {
	struct event_base *base;
	SSL_CTX *ctx;
	struct sockaddr_in sin;
	char *request; /* full request text (head + body) */
	size_t request_len;

	double rate;
	int64_t warmup_ns, duration_ns;
	int n_conns;
	struct conn *conns;
	int n_ready;

	int64_t t0;    /* due time of request 0 */
	int64_t next;  /* index of the next request to schedule */
	int64_t total; /* requests to schedule in all */
	int64_t *fifo; /* due times of requests waiting for a connection */
	int64_t fifo_head, fifo_tail;
	int64_t outstanding; /* scheduled and not finished */

	/* measured requests */
	int64_t *lat_due, *lat_send; /* microseconds */
	int64_t n_lat;
	int64_t measured, errors, non200, reconnects, sent;
	int64_t first_done_ns, last_done_ns;

	struct event *tick, *deadline;
	bool failed;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static bool is_measured(const struct lg *lg, int64_t due)
{
	return due >= lg->t0 + lg->warmup_ns && due < lg->t0 + lg->warmup_ns + lg->duration_ns;
}

static void conn_open(struct conn *c);
static void maybe_finish(struct lg *lg);

/* Writes the next request, due at due, on idle connection c. */
static void conn_send(struct conn *c, int64_t due)
{
	struct lg *lg = c->lg;

	c->state = C_BUSY;
	c->due_ns = due;
	c->measured = is_measured(lg, due);
	c->in_body = false;
	c->status = 0;
	c->body_left = 0;
	c->close_after = false;
	c->sent_ns = now_ns();
	lg->sent++;
	bufferevent_write(c->bev, lg->request, lg->request_len);
}

/* Connection c is free: give it the oldest waiting request, if any. */
static void conn_free_again(struct conn *c)
{
	struct lg *lg = c->lg;

	if (lg->fifo_head < lg->fifo_tail) {
		conn_send(c, lg->fifo[lg->fifo_head++]);
		return;
	}
	c->state = C_IDLE;
}

/* Records the end of the request in flight on c; ok false on failure. */
static void conn_done(struct conn *c, bool ok)
{
	struct lg *lg = c->lg;
	int64_t t = now_ns();

	if (c->measured) {
		lg->measured++;
		if (!ok) {
			lg->errors++;
		} else if (c->status != 200) {
			lg->non200++;
		} else {
			lg->lat_due[lg->n_lat] = (t - c->due_ns) / 1000;
			lg->lat_send[lg->n_lat] = (t - c->sent_ns) / 1000;
			lg->n_lat++;
			if (lg->first_done_ns == 0)
				lg->first_done_ns = t;
			lg->last_done_ns = t;
		}
	}
	lg->outstanding--;
}

/* Drops c's connection (after an error or "Connection: close") and opens
 * a new one; a request in flight fails. */
static void conn_reset(struct conn *c)
{
	struct lg *lg = c->lg;

	if (c->state == C_BUSY)
		conn_done(c, false);
	if (c->state == C_IDLE || c->state == C_BUSY)
		lg->n_ready--;
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (++lg->reconnects > MAX_RECONNECT) {
		fprintf(stderr, "loadgen: too many reconnections\n");
		lg->failed = true;
		event_base_loopexit(lg->base, NULL);
		return;
	}
	conn_open(c);
	maybe_finish(lg);
}

/* Parses the status line and headers in head (len bytes, ending with the
 * blank line) into c. False when malformed or without Content-Length. */
static bool parse_head(struct conn *c, const char *head, size_t len)
{
	const char *p = head, *end = head + len, *eol;
	bool have_len = false;

	if (len < 12 || strncmp(head, "HTTP/1.1 ", 9) != 0)
		return false;
	c->status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
	while ((eol = memmem(p, (size_t)(end - p), "\r\n", 2)) != NULL && eol != p) {
		size_t n = (size_t)(eol - p);

		if (n > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
			char num[32];
			size_t k = n - 15;
			char *e;
			unsigned long long v;

			if (k >= sizeof(num))
				return false;
			memcpy(num, p + 15, k);
			num[k] = '\0';
			errno = 0;
			v = strtoull(num, &e, 10);
			if (errno != 0 || e == num || v > MAX_BODY)
				return false;
			c->body_left = (size_t)v;
			have_len = true;
		} else if (n > 11 && strncasecmp(p, "Connection:", 11) == 0) {
			if (memmem(p, n, "close", 5) != NULL)
				c->close_after = true;
		}
		p = eol + 2;
	}
	return have_len;
}

/* Reads responses: head up to the blank line, then Content-Length bytes. */
static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		if (c->state != C_BUSY) {
			if (evbuffer_get_length(in) > 0) {
				fprintf(stderr, "loadgen: unexpected data from server\n");
				conn_reset(c);
			}
			return;
		}
		if (!c->in_body) {
			struct evbuffer_ptr pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			char head[MAX_HEAD];
			size_t hl;

			if (pos.pos < 0) {
				if (evbuffer_get_length(in) > MAX_HEAD) {
					conn_reset(c);
					return;
				}
				return;
			}
			hl = (size_t)pos.pos + 4;
			if (hl > sizeof(head)) {
				conn_reset(c);
				return;
			}
			evbuffer_remove(in, head, hl);
			if (!parse_head(c, head, hl)) {
				fprintf(stderr, "loadgen: bad response head\n");
				conn_reset(c);
				return;
			}
			c->in_body = true;
		}
		{
			size_t have = evbuffer_get_length(in);
			size_t take = have < c->body_left ? have : c->body_left;

			evbuffer_drain(in, take);
			c->body_left -= take;
			if (c->body_left > 0)
				return;
		}
		conn_done(c, true);
		if (c->close_after) {
			c->state = C_IDLE;
			conn_reset(c);
			return;
		}
		conn_free_again(c);
		maybe_finish(c->lg);
	}
}

static void start_schedule(struct lg *lg);

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct lg *lg = c->lg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		lg->n_ready++;
		if (lg->t0 == 0) {
			c->state = C_IDLE;
			if (lg->n_ready == lg->n_conns)
				start_schedule(lg);
		} else {
			conn_free_again(c);
		}
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		int se = EVUTIL_SOCKET_ERROR();
		char msg[256] = "";

		if ((what & BEV_EVENT_ERROR) && se != 0)
			snprintf(msg, sizeof(msg), "%s", strerror(se));
		else if (e != 0)
			ERR_error_string_n(e, msg, sizeof(msg));
		if (c->state == C_CONNECTING && lg->t0 == 0) {
			if (lg->failed)
				return;
			fprintf(stderr, "loadgen: cannot connect to 127.0.0.1:%d: %s\n",
				ntohs(lg->sin.sin_port), msg[0] ? msg : "connection closed");
			lg->failed = true;
			event_base_loopexit(lg->base, NULL);
			return;
		}
		if (msg[0])
			fprintf(stderr, "loadgen: connection error: %s\n", msg);
		conn_reset(c);
	}
}

/* Opens c's TLS connection; it becomes idle once the handshake is done. */
static void conn_open(struct conn *c)
{
	struct lg *lg = c->lg;
	SSL *ssl = SSL_new(lg->ctx);

	if (ssl == NULL) {
		fprintf(stderr, "loadgen: SSL_new failed\n");
		abort();
	}
	c->state = C_CONNECTING;
	c->bev = bufferevent_openssl_socket_new(lg->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE);
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&lg->sin, sizeof(lg->sin)) != 0)
		fprintf(stderr, "loadgen: connect failed\n");
}

/* Ends the run once the schedule is over and nothing is in flight. */
static void maybe_finish(struct lg *lg)
{
	if (lg->next >= lg->total && lg->outstanding == 0)
		event_base_loopexit(lg->base, NULL);
}

/* Issues every request due by now, then sleeps until the next one. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct lg *lg = arg;
	int64_t t = now_ns();

	(void)fd;
	(void)what;
	while (lg->next < lg->total) {
		int64_t due = lg->t0 + (int64_t)((double)lg->next * 1e9 / lg->rate);
		struct conn *idle = NULL;

		if (due > t) {
			int64_t d = due - t;
			struct timeval tv = {(time_t)(d / NS_PER_S),
					     (suseconds_t)((d % NS_PER_S) / 1000)};

			evtimer_add(lg->tick, &tv);
			return;
		}
		lg->next++;
		lg->outstanding++;
		/* Round-robin over the idle connections, starting after the
		 * last one used, so that the load spreads over all of them. */
		for (int k = 0; k < lg->n_conns; k++) {
			struct conn *c = &lg->conns[(lg->next + k) % lg->n_conns];

			if (c->state == C_IDLE) {
				idle = c;
				break;
			}
		}
		if (idle)
			conn_send(idle, due);
		else
			lg->fifo[lg->fifo_tail++] = due;
	}
	maybe_finish(lg);
}

/* Hard stop DRAIN_NS after the schedule: what is still in flight is
 * reported as incomplete. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct lg *lg = arg;

	(void)fd;
	(void)what;
	event_base_loopexit(lg->base, NULL);
}

static void start_schedule(struct lg *lg)
{
	int64_t end = lg->warmup_ns + lg->duration_ns + DRAIN_NS;
	struct timeval tv = {(time_t)(end / NS_PER_S), (suseconds_t)((end % NS_PER_S) / 1000)};

	lg->t0 = now_ns();
	evtimer_add(lg->deadline, &tv);
	on_tick(-1, 0, lg);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0..100) of n sorted values; -1 when n = 0. */
static int64_t pct(const int64_t *v, int64_t n, double p)
{
	int64_t r;

	if (n == 0)
		return -1;
	r = (int64_t)ceil(p / 100.0 * (double)n);
	if (r < 1)
		r = 1;
	return v[r - 1];
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(s, &e);
	if (errno != 0 || e == s || *e != '\0' || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* Reads the whole file path (at most MAX_BODY bytes) into a heap buffer
 * the caller frees. NULL on error. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = gq_malloc(MAX_BODY + 1);
	n = fread(buf, 1, MAX_BODY + 1, f);
	if (ferror(f) || n > MAX_BODY) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* --pauses: see the header comment. Returns 0. */
static int measure_pauses(double seconds)
{
	struct timespec ts;
	double t0, last, now, gap, max = 0, paused = 0;
	long over1 = 0, over5 = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = last = (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
	do {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
		gap = now - last;
		last = now;
		if (gap > max)
			max = gap;
		if (gap > 1000) {
			over1++;
			paused += gap;
		}
		if (gap > 5000)
			over5++;
	} while (now - t0 < seconds * 1e6);
	printf("PAUSES {\"seconds\":%.1f,\"over_1ms\":%ld,\"over_5ms\":%ld,\"max_us\":%.0f,"
	       "\"paused_pct\":%.2f}\n",
	       seconds, over1, over5, max, 100 * paused / (now - t0));
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen --port N --path PATH --body FILE --cafile PEM --rate RPS\n"
			"               [--duration S] [--warmup S] [--connections N]\n"
			"       loadgen --pauses S\n");
}

int main(int argc, char **argv)
{
	const char *path = NULL, *body_file = NULL, *cafile = NULL;
	double port = 0, duration = 10, warmup = 2, conns = 32;
	static const unsigned char alpn[] = "\x08http/1.1";
	struct event_config *cfg;
	struct lg lg = {0};
	char *body;
	size_t body_len = 0;
	int64_t cap;
	int rc = 1;

	if (argc == 3 && strcmp(argv[1], "--pauses") == 0) {
		double s;

		if (!parse_double(argv[2], 0.1, 3600, &s)) {
			usage();
			return 2;
		}
		return measure_pauses(s);
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = v != NULL;

		if (ok && strcmp(a, "--port") == 0)
			ok = parse_double(v, 1, 65535, &port);
		else if (ok && strcmp(a, "--path") == 0)
			path = v;
		else if (ok && strcmp(a, "--body") == 0)
			body_file = v;
		else if (ok && strcmp(a, "--cafile") == 0)
			cafile = v;
		else if (ok && strcmp(a, "--rate") == 0)
			ok = parse_double(v, 1, 1e7, &lg.rate);
		else if (ok && strcmp(a, "--duration") == 0)
			ok = parse_double(v, 0.1, 3600, &duration);
		else if (ok && strcmp(a, "--warmup") == 0)
			ok = parse_double(v, 0, 3600, &warmup);
		else if (ok && strcmp(a, "--connections") == 0)
			ok = parse_double(v, 1, MAX_CONNS, &conns);
		else
			ok = false;
		if (!ok) {
			usage();
			return 2;
		}
		i++;
	}
	if (path == NULL || body_file == NULL || cafile == NULL || lg.rate == 0 || port == 0) {
		usage();
		return 2;
	}
	body = read_file(body_file, &body_len);
	if (body == NULL) {
		fprintf(stderr, "loadgen: cannot read %s\n", body_file);
		return 2;
	}
	lg.request = gq_asprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
				 "Content-Type: application/json\r\nAccept: application/json\r\n"
				 "Content-Length: %zu\r\n\r\n%.*s",
				 path, (int)port, body_len, (int)body_len, body);
	lg.request_len = strlen(lg.request);
	free(body);
	if (lg.request_len < body_len) {
		fprintf(stderr, "loadgen: the body must not contain NUL bytes\n");
		return 2;
	}

	lg.warmup_ns = (int64_t)(warmup * 1e9);
	lg.duration_ns = (int64_t)(duration * 1e9);
	lg.n_conns = (int)conns;
	lg.total = (int64_t)ceil((warmup + duration) * lg.rate);
	if (lg.total > MAX_REQUESTS) {
		fprintf(stderr, "loadgen: too many requests (rate x time)\n");
		return 2;
	}
	cap = lg.total + 1;
	lg.fifo = gq_calloc((size_t)cap, sizeof(int64_t));
	lg.lat_due = gq_calloc((size_t)cap, sizeof(int64_t));
	lg.lat_send = gq_calloc((size_t)cap, sizeof(int64_t));
	lg.conns = gq_calloc((size_t)lg.n_conns, sizeof(struct conn));
	lg.sin.sin_family = AF_INET;
	lg.sin.sin_port = htons((uint16_t)port);
	lg.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	lg.ctx = SSL_CTX_new(TLS_client_method());
	if (lg.ctx == NULL || SSL_CTX_load_verify_locations(lg.ctx, cafile, NULL) != 1) {
		fprintf(stderr, "loadgen: cannot load CA %s\n", cafile);
		goto out;
	}
	SSL_CTX_set_verify(lg.ctx, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(lg.ctx), "127.0.0.1");
	SSL_CTX_set_alpn_protos(lg.ctx, alpn, sizeof(alpn) - 1);

	cfg = event_config_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	lg.base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (lg.base == NULL) {
		fprintf(stderr, "loadgen: event_base_new failed\n");
		goto out;
	}
	lg.tick = evtimer_new(lg.base, on_tick, &lg);
	lg.deadline = evtimer_new(lg.base, on_deadline, &lg);
	for (int i = 0; i < lg.n_conns; i++) {
		lg.conns[i].lg = &lg;
		conn_open(&lg.conns[i]);
	}
	{
		struct timeval tv = {CONNECT_NS / NS_PER_S, 0};

		/* Until the schedule starts, the deadline bounds connecting. */
		evtimer_add(lg.deadline, &tv);
	}
	event_base_dispatch(lg.base);
	if (lg.failed || lg.t0 == 0) {
		fprintf(stderr, "loadgen: run failed (connected %d of %d)\n", lg.n_ready,
			lg.n_conns);
		goto out;
	}

	{
		int64_t expected = 0, n = lg.n_lat;
		double window;

		for (int64_t i = 0; i < lg.total; i++)
			if (is_measured(&lg, lg.t0 + (int64_t)((double)i * 1e9 / lg.rate)))
				expected++;
		qsort(lg.lat_due, (size_t)n, sizeof(int64_t), cmp_i64);
		qsort(lg.lat_send, (size_t)n, sizeof(int64_t), cmp_i64);
		window = (double)lg.duration_ns / 1e9;
		printf("LOADGEN {\"rate\":%.1f,\"connections\":%d,\"duration_s\":%.1f,"
		       "\"warmup_s\":%.1f,\"sent\":%lld,\"expected\":%lld,\"measured\":%lld,"
		       "\"ok\":%lld,\"errors\":%lld,\"non200\":%lld,\"incomplete\":%lld,"
		       "\"reconnects\":%lld,\"achieved_rps\":%.1f,"
		       "\"p50_us\":%lld,\"p90_us\":%lld,\"p99_us\":%lld,\"p999_us\":%lld,"
		       "\"max_us\":%lld,\"send_p50_us\":%lld,\"send_p99_us\":%lld,"
		       "\"send_max_us\":%lld}\n",
		       lg.rate, lg.n_conns, window, (double)lg.warmup_ns / 1e9, (long long)lg.sent,
		       (long long)expected, (long long)lg.measured, (long long)n,
		       (long long)lg.errors, (long long)lg.non200,
		       (long long)(expected - lg.measured), (long long)lg.reconnects,
		       (double)n / window, (long long)pct(lg.lat_due, n, 50),
		       (long long)pct(lg.lat_due, n, 90), (long long)pct(lg.lat_due, n, 99),
		       (long long)pct(lg.lat_due, n, 99.9), (long long)pct(lg.lat_due, n, 100),
		       (long long)pct(lg.lat_send, n, 50), (long long)pct(lg.lat_send, n, 99),
		       (long long)pct(lg.lat_send, n, 100));
		rc = 0;
	}
out:
	for (int i = 0; lg.conns && i < lg.n_conns; i++)
		if (lg.conns[i].bev)
			bufferevent_free(lg.conns[i].bev);
	if (lg.tick)
		event_free(lg.tick);
	if (lg.deadline)
		event_free(lg.deadline);
	if (lg.base)
		event_base_free(lg.base);
	SSL_CTX_free(lg.ctx);
	free(lg.conns);
	free(lg.fifo);
	free(lg.lat_due);
	free(lg.lat_send);
	free(lg.request);
	return rc;
}
