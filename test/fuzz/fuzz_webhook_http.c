/*
 * fuzz_webhook_http.c - libFuzzer target for the webhook's HTTP request
 * handling (webhook.c: evhttp with the connection guard) over the plain
 * seam (gq_webhook_start_plain) on 127.0.0.1.
 *
 * Input: the first byte picks the size of the writes (1..64 bytes, or all
 * at once when it is 0), the rest is what one client sends on one
 * connection (any bytes: request lines, headers, bodies, pipelined
 * requests); then the client shuts its write side and reads until the
 * server closes.
 *
 * Server: one for the whole run, with small bounds (max_body 4096,
 * max_buffered 8192, 1 s deadlines) so that inputs reach them; two routes:
 * /admit answers 200 with the body's length as JSON, /bad answers 400.
 *
 * Invariants: the server closes every connection within 5 s (EOF or a
 * deadline); everything it sends is a sequence of HTTP responses with
 * a known status; once the connection is closed nothing stays reserved
 * against max_buffered; guards of closed connections are freed (at most a
 * few stay open across inputs). A violated invariant aborts; nothing may
 * crash, leak or trip ASan/UBSan.
 *
 * Build: `make fuzz` (libFuzzer); replayed by `make unit` through
 * test/fuzz/standalone.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "gq.h"
#include "log.h"
#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT	 (64u * 1024)
#define FUZZ_MAX_REPLY	 (256u * 1024)
#define FUZZ_WAIT_S	 5
#define FUZZ_MAX_BODY	 4096
#define FUZZ_MAX_BUFFERD 8192

static struct event_base *base;
static struct gq_webhook *server;
static int port;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_webhook_http: invariant violated: %s\n", what);
		abort();
	}
}

static int h_admit(void *payload, const char *body, size_t len, struct gq_buf *out)
{
	(void)payload;
	check(body[len] == '\0', "body is NUL-terminated");
	check(len <= FUZZ_MAX_BODY, "body within max_body");
	gq_buf_printf(&out[0], "{\"len\":%zu}", len);
	return 200;
}

static int h_bad(void *payload, const char *body, size_t len, struct gq_buf *out)
{
	(void)payload, (void)body, (void)len;
	gq_buf_puts(out, "bad\n");
	return 400;
}

static void setup(void)
{
	struct gq_webhook_opts o = {.addr = "127.0.0.1:0",
				    .max_body = FUZZ_MAX_BODY,
				    .timeout_s = 1,
				    .handshake_timeout_s = 1,
				    .header_timeout_s = 1,
				    .request_timeout_s = 1,
				    .max_connections = 8,
				    .max_buffered = FUZZ_MAX_BUFFERD};
	struct gq_err err = {0};

	signal(SIGPIPE, SIG_IGN);
	gq_log_setup(GQ_LOG_ERROR, GQ_LOG_TEXT);
	base = event_base_new();
	check(base != NULL, "event base");
	check(gq_webhook_new(&server, base, &o, &err) == GQ_OK, "server");
	check(gq_webhook_route(server, "/admit", h_admit, NULL) == GQ_OK, "route");
	check(gq_webhook_route(server, "/bad", h_bad, NULL) == GQ_OK, "route");
	check(gq_webhook_start_plain(server, &err) == GQ_OK, "listen");
	port = gq_webhook_port(server);
}

/* One client connection's state. */
struct client {
	int fd;
	const uint8_t *data;
	size_t len, off, step;
	bool eof, timed_out, shut;
	struct gq_buf reply;
	struct event *rd, *wr, *limit;
};

static void client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	char buf[16384];
	ssize_t n;

	(void)what;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0) {
		if (c->reply.len + (size_t)n <= FUZZ_MAX_REPLY)
			gq_buf_append(&c->reply, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	c->eof = true; /* EOF or reset */
	event_base_loopbreak(base);
}

static void client_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	size_t k = c->len - c->off;
	ssize_t n;

	(void)what;
	if (c->step != 0 && k > c->step)
		k = c->step;
	if (k > 0) {
		n = send(fd, c->data + c->off, k, MSG_NOSIGNAL);
		if (n > 0)
			c->off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			c->off = c->len; /* the server closed: stop sending */
	}
	if (c->off >= c->len) {
		shutdown(fd, SHUT_WR);
		c->shut = true;
		event_del(c->wr);
	}
}

static void client_limit(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd, (void)what;
	c->timed_out = true;
	event_base_loopbreak(base);
}

/* Checks that reply is a sequence of HTTP responses with known statuses
 * (evhttp answers in the request's version, "HTTP/1.0" or whatever the
 * client wrote; the bodies are skipped by looking for the next status
 * line). */
static void check_reply(const char *p, size_t n)
{
	static const char *const known[] = {"100", "200", "400", "404", "405", "413",
					    "415", "417", "500", "501", "503"};
	const char *end;

	if (n == 0 || p == NULL)
		return;
	end = p + n;
	check(n >= 12 && memcmp(p, "HTTP/", 5) == 0, "reply starts with a status line");
	for (const char *q = p; q != NULL && q < end;
	     q = memmem(q + 1, (size_t)(end - q - 1), "\r\nHTTP/", 7)) {
		const char *sp = memchr(q, ' ', (size_t)(end - q));
		bool ok = false;

		check(sp != NULL && end - sp >= 4, "status line has a status");
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || memcmp(sp + 1, known[i], 3) == 0;
		check(ok, "known status");
	}
}

/* Connects fd (made non-blocking) to sa, waiting up to FUZZ_WAIT_S for the
 * handshake. libFuzzer's SIGALRM (its -timeout watchdog) interrupts a
 * blocking connect() with EINTR while the handshake goes on; waiting for
 * writability with poll(), retried on EINTR, then reading SO_ERROR is immune
 * to that. A failure aborts with errno and the server's state. */
static void client_connect(int fd, const struct sockaddr_in *sa, uint64_t nth)
{
	struct gq_webhook_stats st;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t elen = sizeof(int);
	int e = 0, r;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return;
	if (errno == EINPROGRESS || errno == EINTR) {
		do
			r = poll(&p, 1, FUZZ_WAIT_S * 1000);
		while (r < 0 && errno == EINTR);
		if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == 0 && e == 0)
			return;
		errno = r == 0 ? ETIMEDOUT : (e != 0 ? e : errno);
	}
	e = errno;
	gq_webhook_get_stats(server, &st);
	fprintf(stderr,
		"fuzz_webhook_http: connect #%llu failed: %s (server: %llu open, %llu buffered)\n",
		(unsigned long long)nth, strerror(e), (unsigned long long)st.open,
		(unsigned long long)st.buffered);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET}, src = {.sin_family = AF_INET};
	static uint64_t n_conns;
	struct timeval tv = {FUZZ_WAIT_S, 0};
	struct gq_webhook_stats st;
	struct client c = {0};

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	if (base == NULL)
		setup();
	c.step = data[0] == 0 ? 0 : (size_t)(data[0] % 64) + 1;
	c.data = data + 1;
	c.len = size - 1;
	gq_buf_init(&c.reply, FUZZ_MAX_REPLY + 1);
	c.fd = socket(AF_INET, SOCK_STREAM, 0);
	check(c.fd >= 0, "socket");
	/* the server's closes leave TIME_WAIT tuples: spread the clients over
	 * source addresses 127.0.0.2..251 so that long runs do not run out of
	 * ephemeral ports */
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)(n_conns++ % 250));
	check(bind(c.fd, (struct sockaddr *)&src, sizeof(src)) == 0, "bind");
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	client_connect(c.fd, &sa, n_conns);
	c.rd = event_new(base, c.fd, EV_READ | EV_PERSIST, client_read, &c);
	c.wr = event_new(base, c.fd, EV_WRITE | EV_PERSIST, client_write, &c);
	c.limit = evtimer_new(base, client_limit, &c);
	check(c.rd && c.wr && c.limit, "events");
	event_add(c.rd, NULL);
	event_add(c.wr, NULL);
	event_add(c.limit, &tv);
	event_base_dispatch(base);
	check(!c.timed_out, "the server closes the connection within 5 s");
	check_reply(c.reply.data, c.reply.len);
	event_free(c.rd);
	event_free(c.wr);
	event_free(c.limit);
	/* the server has closed: reset instead of TIME_WAIT, or a long run
	 * exhausts the ephemeral ports (hundreds of connections a second) */
	setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
	close(c.fd);
	/* let the server finish the close and sweep its guards */
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	gq_webhook_get_stats(server, &st);
	check(st.open <= 8, "closed connections are freed");
	if (st.open == 0)
		check(st.buffered == 0, "nothing reserved without connections");
	gq_buf_free(&c.reply);
	return 0;
}
