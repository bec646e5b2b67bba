/*
 * Unit tests for the webhook's connection guard and the accept back-off,
 * with hostile clients on the plain-HTTP seam (gq_webhook_start_plain):
 * deadlines that bytes do not extend, the connection cap, the buffered
 * budget, 413 without buffering, and accept pauses on EMFILE (listen.c).
 * The server's loop runs on a thread; clients are raw sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "buf.h"
#include "gq.h"
#include "listen.h"
#include "log.h"
#include "webhook.h"

struct srv {
	struct event_base *base;
	struct gq_webhook *w;
	pthread_t loop;
	int port;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void *loop_main(void *arg)
{
	struct srv *s = arg;

	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int h_len(void *payload, const char *body, size_t len, struct gq_buf *out)
{
	(void)payload, (void)body;
	gq_buf_printf(out, "{\"len\":%zu}", len);
	return 200;
}

/* A plain server: 1 s handshake/head/idle deadlines, 2 s request deadline,
 * 4 connections, max_body 800, 1000 bytes buffered. */
static int setup(void **state)
{
	struct srv *s = gq_calloc(1, sizeof(*s));
	struct gq_webhook_opts o = {.addr = "127.0.0.1:0",
				    .max_body = 800,
				    .timeout_s = 1,
				    .handshake_timeout_s = 1,
				    .header_timeout_s = 1,
				    .request_timeout_s = 2,
				    .max_connections = 4,
				    .max_buffered = 1000};
	struct gq_err err = {0};

	s->base = event_base_new();
	assert_non_null(s->base);
	assert_int_equal(gq_webhook_new(&s->w, s->base, &o, &err), GQ_OK);
	assert_int_equal(gq_webhook_route(s->w, "/admit", h_len, NULL), GQ_OK);
	assert_int_equal(gq_webhook_start_plain(s->w, &err), GQ_OK);
	s->port = gq_webhook_port(s->w);
	assert_true(s->port > 0);
	assert_int_equal(pthread_create(&s->loop, NULL, loop_main, s), 0);
	*state = s;
	return 0;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	event_base_loopbreak(arg);
}

static int teardown(void **state)
{
	struct srv *s = *state;
	const struct timeval zero = {0, 0};

	event_base_once(s->base, -1, EV_TIMEOUT, stop_cb, s->base, &zero);
	pthread_join(s->loop, NULL);
	gq_webhook_free(s->w);
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	event_base_free(s->base);
	free(s);
	return 0;
}

/* Runs on the loop thread: copies the stats. */
struct stats_call {
	struct srv *s;
	struct gq_webhook_stats st;
	volatile int done;
};

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stats_call *c = arg;

	(void)fd, (void)what;
	gq_webhook_get_stats(c->s->w, &c->st);
	__atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
}

static struct gq_webhook_stats stats(struct srv *s)
{
	struct stats_call c = {.s = s};
	const struct timeval zero = {0, 0};

	assert_int_equal(event_base_once(s->base, -1, EV_TIMEOUT, stats_cb, &c, &zero), 0);
	while (!__atomic_load_n(&c.done, __ATOMIC_SEQ_CST))
		sleep_ms(2);
	return c.st;
}

static int tcp_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_all(int fd, const char *p)
{
	size_t n = strlen(p);

	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

/* Reads until the server closes or ms pass; returns the bytes read
 * (NUL-terminated in buf) and sets *closed. */
static size_t read_until_close(int fd, char *buf, size_t cap, int ms, bool *closed)
{
	int64_t end = mono_ms() + ms;
	size_t len = 0;

	*closed = false;
	while (mono_ms() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (poll(&pfd, 1, (int)(end - mono_ms())) <= 0)
			continue;
		k = recv(fd, buf + len, cap - 1 - len, 0);
		if (k <= 0) {
			*closed = true;
			break;
		}
		len += (size_t)k;
	}
	buf[len] = '\0';
	return len;
}

/* A valid request on a new connection answers 200 with the body length. */
static void assert_valid_request(struct srv *s)
{
	char buf[1024];
	bool closed;
	int fd = tcp_connect(s->port);

	send_all(fd, "POST /admit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		     "Connection: close\r\nContent-Length: 2\r\n\r\n{}");
	read_until_close(fd, buf, sizeof(buf), 3000, &closed);
	assert_true(closed);
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "{\"len\":2}"));
	close(fd);
}

/* Nothing sent after the connect: closed by the handshake deadline (1 s). */
static void test_silent_connection(void **state)
{
	struct srv *s = *state;
	char buf[64];
	bool closed;
	int64_t t0 = mono_ms();
	int fd = tcp_connect(s->port);

	read_until_close(fd, buf, sizeof(buf), 5000, &closed);
	assert_true(closed);
	assert_true(mono_ms() - t0 >= 900);
	assert_true(mono_ms() - t0 < 3000);
	close(fd);
	assert_true(stats(s).closed_deadline >= 1);
}

/* A head sent one byte every 200 ms: the head deadline (1 s) is not
 * extended by the bytes. */
static void test_slow_head(void **state)
{
	struct srv *s = *state;
	const char *head = "POST /admit HTTP/1.1\r\nHost: a-very-long-host-name\r\n";
	int fd = tcp_connect(s->port);
	int64_t t0 = mono_ms(), closed_at = 0;
	char buf[64];

	for (size_t i = 0; head[i] != '\0' && mono_ms() - t0 < 5000; i++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (send(fd, head + i, 1, MSG_NOSIGNAL) != 1 || poll(&pfd, 1, 200) == 1) {
			if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
				closed_at = mono_ms();
				break;
			}
		}
	}
	assert_true(closed_at != 0);
	assert_true(closed_at - t0 >= 900);
	assert_true(closed_at - t0 < 2500);
	close(fd);
}

/* A body sent one byte every 200 ms: closed by the request deadline (2 s). */
static void test_slow_body(void **state)
{
	struct srv *s = *state;
	int fd = tcp_connect(s->port);
	int64_t t0 = mono_ms(), closed_at = 0;
	char buf[64];

	send_all(fd, "POST /admit HTTP/1.1\r\nContent-Type: application/json\r\n"
		     "Content-Length: 100\r\n\r\n");
	for (int i = 0; i < 100 && mono_ms() - t0 < 6000; i++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (send(fd, " ", 1, MSG_NOSIGNAL) != 1 || poll(&pfd, 1, 200) == 1) {
			if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
				closed_at = mono_ms();
				break;
			}
		}
	}
	assert_true(closed_at != 0);
	assert_true(closed_at - t0 >= 1900);
	assert_true(closed_at - t0 < 3500);
	close(fd);
	assert_int_equal(stats(s).buffered, 0);
	assert_valid_request(s);
}

/* Over max_connections (4): a fifth connection is closed at once, and the
 * server serves again once the others are gone. */
static void test_connection_cap(void **state)
{
	struct srv *s = *state;
	int fds[4], extra;
	char buf[64];
	bool closed;
	int64_t t0;

	for (int i = 0; i < 4; i++)
		fds[i] = tcp_connect(s->port);
	sleep_ms(100);
	assert_int_equal(stats(s).open, 4);
	t0 = mono_ms();
	extra = tcp_connect(s->port);
	read_until_close(extra, buf, sizeof(buf), 3000, &closed);
	assert_true(closed);
	assert_true(mono_ms() - t0 < 700);
	close(extra);
	assert_int_equal(stats(s).closed_max_conns, 1);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	sleep_ms(200);
	assert_int_equal(stats(s).open, 0);
	assert_valid_request(s);
}

/* The bodies being received reserve at most max_buffered (1000): a second
 * 800-byte request while the first is partial is closed without an answer;
 * the first then completes. */
static void test_buffered_budget(void **state)
{
	struct srv *s = *state;
	const char *head = "POST /admit HTTP/1.1\r\nContent-Type: application/json\r\n"
			   "Content-Length: 800\r\n\r\n";
	char body[801], buf[1024];
	int a = tcp_connect(s->port), b;
	bool closed;

	memset(body, ' ', 800);
	body[800] = '\0';
	send_all(a, head);
	send_all(a, "{\"partial\":");
	sleep_ms(100);
	assert_int_equal(stats(s).buffered, 800);
	b = tcp_connect(s->port);
	send_all(b, head);
	assert_int_equal(read_until_close(b, buf, sizeof(buf), 3000, &closed), 0);
	assert_true(closed);
	close(b);
	assert_int_equal(stats(s).closed_buffered, 1);
	send_all(a, body + 11);
	read_until_close(a, buf, sizeof(buf), 1500, &closed);
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "{\"len\":800}"));
	close(a);
	sleep_ms(100);
	assert_int_equal(stats(s).buffered, 0);
}

/* A Content-Length over max_body is answered 413 and nothing is reserved
 * for it, even while its body arrives. */
static void test_oversized_length(void **state)
{
	struct srv *s = *state;
	char body[2001], buf[1024];
	bool closed;
	int fd = tcp_connect(s->port);

	memset(body, 'x', 2000);
	body[2000] = '\0';
	send_all(fd, "POST /admit HTTP/1.1\r\nContent-Type: application/json\r\n"
		     "Content-Length: 2000\r\n\r\n");
	send_all(fd, "xxxx");
	sleep_ms(100);
	assert_int_equal(stats(s).buffered, 0);
	send_all(fd, body + 4);
	read_until_close(fd, buf, sizeof(buf), 3000, &closed);
	assert_non_null(strstr(buf, "HTTP/1.1 413"));
	close(fd);
}

/* An idle keep-alive connection is closed after timeout_s (1 s). */
static void test_idle_keepalive(void **state)
{
	struct srv *s = *state;
	char buf[1024];
	bool closed;
	int fd = tcp_connect(s->port);
	int64_t t0;

	send_all(fd, "POST /admit HTTP/1.1\r\nContent-Type: application/json\r\n"
		     "Content-Length: 2\r\n\r\n{}");
	t0 = mono_ms();
	read_until_close(fd, buf, sizeof(buf), 4000, &closed);
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_true(closed);
	assert_true(mono_ms() - t0 >= 900);
	assert_true(mono_ms() - t0 < 2500);
	close(fd);
}

/* ------------------------------------------------------------ accept back-off */

static void accepted(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int n,
		     void *arg)
{
	(void)l, (void)sa, (void)n;
	(*(int *)arg)++;
	close(fd);
}

/* Descriptors exhausted with connections waiting: the listener pauses
 * instead of spinning, logs one line, and accepts them once descriptors
 * are back. */
static void test_accept_backoff(void **state)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct evconnlistener *l;
	struct gq_listen_backoff *b;
	struct gq_listen_backoff_stats st;
	struct rlimit old, lim;
	int n_acc = 0, clients[3], spare[64], n_spare = 0;
	int64_t t0;

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = evconnlistener_new_bind(base, accepted, &n_acc, LEV_OPT_CLOSE_ON_FREE, 16,
				    (struct sockaddr *)&sa, sizeof(sa));
	assert_non_null(l);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sa, &sl);
	b = gq_listen_backoff_install(l, "test");
	for (int i = 0; i < 3; i++)
		clients[i] = tcp_connect(ntohs(sa.sin_port));
	/* exhaust the descriptors: a low limit, filled with dups */
	getrlimit(RLIMIT_NOFILE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)(clients[2] + 8);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	while (n_spare < 64) {
		int fd = dup(0);

		if (fd < 0)
			break;
		spare[n_spare++] = fd;
	}
	assert_int_equal(errno, EMFILE);
	t0 = mono_ms();
	while (mono_ms() - t0 < 1500)
		event_base_loop(base, EVLOOP_ONCE);
	gq_listen_backoff_get_stats(b, &st);
	assert_int_equal(n_acc, 0);
	assert_true(st.failures >= 1);
	assert_true(st.failures <= 20); /* paused, not spinning */
	assert_true(st.pauses >= 1);
	assert_int_equal(st.logged, 1);
	/* descriptors back: the waiting connections are accepted */
	for (int i = 0; i < n_spare; i++)
		close(spare[i]);
	setrlimit(RLIMIT_NOFILE, &old);
	t0 = mono_ms();
	while (n_acc < 3 && mono_ms() - t0 < 3000)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(n_acc, 3);
	for (int i = 0; i < 3; i++)
		close(clients[i]);
	gq_listen_backoff_free(b);
	evconnlistener_free(l);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_silent_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffered_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_keepalive, setup, teardown),
	    cmocka_unit_test(test_accept_backoff),
	};

	signal(SIGPIPE, SIG_IGN);
	gq_log_setup(GQ_LOG_ERROR, GQ_LOG_TEXT);
	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
