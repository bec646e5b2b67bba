/*
 * webhook_server.c - benchmark driver: serves gpuquota's real Pod admission
 * path over HTTPS so that bench/run.sh can load it next to nginx.
 *
 * What runs is what the controller runs: one thread dispatching a libevent
 * event_base (evthread_use_pthreads, as controller.c), the webhook module
 * (gq_webhook_*: evhttp over OpenSSL bufferevents, keep-alive) with a
 * serving certificate from the certs module, and the controller's handler
 * gq_registry_admit (decode -> team lookup by namespace -> decide -> encode)
 * over a team registry holding fixed in-memory team snapshots. Nothing in
 * the request path is stubbed or cached.
 *
 * The snapshot of team "ml-research" (namespace ml-research) is set so that
 * the three request bodies of bench/bodies/ take three different paths:
 * gpu-admit (4 GPUs for 24 h) is allowed with a patch (default priority
 * class, accounting finalizer) and a budget warning (85 % used, warning at
 * 80 %); gpu-deny (8 GPUs for 7 days) exceeds the budget left and is denied
 * (policy Deny); cpu-pass asks for no GPU and passes untouched. Other teams
 * fill the registry so that the namespace lookup is not a single entry.
 *
 * Usage: webhook_server --dir DIR [--addr HOST:PORT] [--teams N]
 *        webhook_server --profile BODY [--teams N]
 * Writes DIR/ca.pem (the CA clients trust), DIR/tls.crt and DIR/tls.key (the
 * serving pair, for nginx to serve the same certificate), then DIR/port once
 * listening. SIGTERM or SIGINT stops it; the counters go to stderr.
 *
 * --profile times, in this process and without any network, the CPU cost
 * per request of the parts of the request path on the AdmissionReview in
 * file BODY: yajl tokenizing the body with no callbacks (the least any
 * yajl-based decoder pays), gq_admission_decode, and the whole handler
 * gq_registry_admit. It prints one line "PROFILE {json}" with microseconds.
 */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <yajl/yajl_parse.h>

#include "admission.h"
#include "registry.h"
#include "certs.h"
#include "gq.h"
#include "log.h"
#include "webhook.h"

#define ROUTE	     "/admit/pods"
#define TEAMS_MAX    1000
#define GPU_HOUR     (3600LL * GQ_ADMISSION_GPU_MICRO)
#define PATH_MAX_LEN 4096

struct bench {
	struct event_base *base;
	struct gq_webhook *w;
};

/* Writes len bytes of data to path (created or truncated with mode), via a
 * temporary file renamed into place so that readers never see it partial.
 * Returns GQ_OK or GQ_EIO. */
static int write_file(const char *dir, const char *name, const char *data, mode_t mode)
{
	char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
	size_t len = strlen(data), off = 0;
	int fd, n, rc = GQ_EIO;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return GQ_EIO;
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return GQ_EIO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		fprintf(stderr, "webhook_server: %s: %s\n", tmp, strerror(errno));
		return GQ_EIO;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	rc = GQ_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != GQ_OK)
		fprintf(stderr, "webhook_server: cannot write %s\n", path);
	return rc;
}

/*
 * Stores the snapshots of n_teams teams in reg. The benchmarked team,
 * "ml-research", sits in the middle of the registry; the others are
 * look-alikes with namespaces of their own. The registry deep-copies
 * everything.
 */
static void fill_registry(struct gq_registry *reg, int n_teams)
{
	/* an override as a team may give (1g.10gb keeps its built-in 1/7) */
	static struct gq_res weight_items[] = {
	    {.name = (char *)"nvidia.com/gpu", .q = {.milli = 1000}},
	};
	static const struct gq_res_list weights = {weight_items, GQ_ARRAY_LEN(weight_items)};
	int target = n_teams / 2;

	for (int i = 0; i < n_teams; i++) {
		char *team = i == target ? gq_strdup("ml-research") : gq_asprintf("team-%03d", i);
		char *ns0 = i == target ? gq_strdup("ml-research") : gq_asprintf("team-%03d", i);
		char *ns1 = gq_asprintf("%s-dev", team);
		char *ns2 = gq_asprintf("%s-batch", team);
		char *high = gq_asprintf("%s-high", team);
		char *std = gq_asprintf("%s-standard", team);
		char *low = gq_asprintf("%s-low", team);
		char *over = gq_asprintf("%s-over-budget", team);
		const char *const namespaces[] = {ns0, ns1, ns2};
		const char *const tiers[] = {high, std, low};
		const char *const exempt[] = {high};
		struct gq_adm_team t = {
		    .name = team,
		    .tier_classes = tiers,
		    .n_tiers = 3,
		    .default_class = std,
		    .default_value = 10000,
		    .default_preemption_policy = "PreemptLowerPriority",
		    .exempt_classes = exempt,
		    .n_exempt = 1,
		    .max_gpus_per_pod = 8,
		    .has_budget = true,
		    .policy = GQ_EXHAUSTED_DENY,
		    .budget_micro = 1000 * GPU_HOUR,
		    .used_micro = 850 * GPU_HOUR, /* 85 %: past the warning, 150 h left */
		    .warn_at_percent = 80,
		    .reset_time = "2024-12-01T00:00:00Z",
		    .over_budget_class = over,
		    .over_budget_value = 100,
		    .weights = &weights,
		};

		gq_registry_set_admission(reg, team, namespaces, GQ_ARRAY_LEN(namespaces), &t);
		free(team);
		free(ns0);
		free(ns1);
		free(ns2);
		free(high);
		free(std);
		free(low);
		free(over);
	}
}

/* Drain finished: leave the loop. */
static void on_drained(void *arg)
{
	struct bench *b = arg;

	event_base_loopexit(b->base, NULL);
}

/* SIGTERM/SIGINT: stop accepting and close the connections at once (the
 * load generators have finished by then). */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct bench *b = arg;

	(void)sig;
	(void)what;
	gq_webhook_drain(b->w, 0, on_drained, b);
}

/* CPU time of this thread in seconds. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parse-only pass for --profile: yajl with no callbacks, configured as
 * gq_admission_decode configures it. Returns 0 or -1 (invalid JSON). */
static int yajl_only(const char *body, size_t len)
{
	static const yajl_callbacks none;
	yajl_handle h = yajl_alloc(&none, NULL, NULL);
	yajl_status st;

	if (h == NULL)
		abort();
	yajl_config(h, yajl_allow_comments, 1);
	st = yajl_parse(h, (const unsigned char *)body, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	return st == yajl_status_ok ? 0 : -1;
}

/* Mean CPU microseconds of one call of what (0: yajl alone, 1: decode,
 * 2: the whole handler) over body, from the best of 5 runs of n calls. */
static double profile_one(int what, struct gq_registry *reg, const char *body, size_t len, int n)
{
	double best = -1;

	for (int run = 0; run < 5; run++) {
		double t0 = cpu_now();

		for (int i = 0; i < n; i++) {
			struct gq_adm_request req;
			struct gq_err err;
			struct gq_buf out;

			if (what == 0) {
				if (yajl_only(body, len) != 0)
					return -1;
			} else if (what == 1) {
				if (gq_admission_decode(&req, body, len, &err) != GQ_OK)
					return -1;
				gq_adm_request_free(&req);
			} else {
				gq_buf_init(&out, GQ_WEBHOOK_MAX_RESPONSE);
				if (gq_registry_admit(reg, body, len, &out) != 200) {
					gq_buf_free(&out);
					return -1;
				}
				gq_buf_free(&out);
			}
		}
		double us = (cpu_now() - t0) * 1e6 / n;
		if (best < 0 || us < best)
			best = us;
	}
	return best;
}

/* --profile: prints "PROFILE {json}" for the body in file path. */
static int profile(const char *path, int n_teams)
{
	static const char *const names[] = {"yajl_parse_us", "decode_us", "handler_us"};
	struct gq_registry *reg = NULL;
	struct gq_err err = {0};
	char *body = NULL;
	size_t len = 0;
	int rc;

	rc = gq_read_file(path, GQ_WEBHOOK_MAX_BODY_DEFAULT, &body, &len, &err);
	if (rc != GQ_OK) {
		fprintf(stderr, "webhook_server: %s\n", err.msg);
		return 1;
	}
	gq_registry_new(&reg);
	fill_registry(reg, n_teams);
	printf("PROFILE {\"body_bytes\":%zu", len);
	for (int what = 0; what < 3; what++) {
		double us = profile_one(what, reg, body, len, 20000);

		if (us < 0) {
			printf("}\n");
			fprintf(stderr, "webhook_server: %s does not decode\n", path);
			rc = GQ_EINVAL;
			break;
		}
		printf(",\"%s\":%.2f", names[what], us);
	}
	if (rc == GQ_OK)
		printf("}\n");
	gq_registry_free(reg);
	free(body);
	return rc == GQ_OK ? 0 : 1;
}

/* Parses a decimal int in [lo, hi] into *out; false if s is not one. */
static bool parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

static void usage(void)
{
	fprintf(stderr, "usage: webhook_server --dir DIR [--addr HOST:PORT] [--teams N]\n"
			"       webhook_server --profile BODY [--teams N]\n");
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *addr = "127.0.0.1:0", *profile_body = NULL;
	const char *const dns[] = {"localhost"};
	const char *const ips[] = {"127.0.0.1"};
	char *ca_cert = NULL, *ca_key = NULL, *crt = NULL, *key = NULL, *port_txt = NULL;
	struct gq_registry *reg = NULL;
	struct gq_webhook_opts opts = {0};
	struct gq_webhook_stats ws;
	struct gq_registry_stats bs;
	struct event *ev_term = NULL, *ev_int = NULL;
	struct gq_err err = {0};
	struct bench b = {0};
	int n_teams = 50, rc = GQ_EINVAL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc) {
			profile_body = argv[++i];
		} else if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) {
			addr = argv[++i];
		} else if (strcmp(argv[i], "--teams") == 0 && i + 1 < argc) {
			if (!parse_int(argv[++i], 1, TEAMS_MAX, &n_teams)) {
				usage();
				return 2;
			}
		} else {
			usage();
			return 2;
		}
	}
	if (profile_body != NULL) {
		gq_log_setup(GQ_LOG_WARN, GQ_LOG_TEXT);
		return profile(profile_body, n_teams);
	}
	if (dir == NULL) {
		usage();
		return 2;
	}

	gq_log_setup(GQ_LOG_INFO, GQ_LOG_TEXT);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	b.base = gq_webhook_base_new();
	if (b.base == NULL) {
		fprintf(stderr, "webhook_server: gq_webhook_base_new failed\n");
		return 1;
	}

	rc = gq_certs_generate_ca(&ca_cert, &ca_key, "gpuquota-bench-ca", 1, &err);
	if (rc == GQ_OK)
		rc =
		    gq_certs_generate_serving(&crt, &key, ca_cert, ca_key, dns, 1, ips, 1, 1, &err);
	if (rc != GQ_OK)
		goto out;
	rc = write_file(dir, "ca.pem", ca_cert, 0644);
	if (rc == GQ_OK)
		rc = write_file(dir, "tls.crt", crt, 0644);
	if (rc == GQ_OK)
		rc = write_file(dir, "tls.key", key, 0600);
	if (rc != GQ_OK)
		goto out;

	gq_registry_new(&reg);
	fill_registry(reg, n_teams);

	opts.addr = addr;
	rc = gq_webhook_new(&b.w, b.base, &opts, &err);
	if (rc != GQ_OK)
		goto out;
	rc = gq_webhook_route(b.w, ROUTE, gq_registry_admit, reg);
	if (rc != GQ_OK) {
		gq_err_set(&err, rc, "cannot route %s", ROUTE);
		goto out;
	}
	rc = gq_webhook_set_cert(b.w, crt, key, &err);
	if (rc == GQ_OK)
		rc = gq_webhook_start(b.w, &err);
	if (rc != GQ_OK)
		goto out;

	ev_term = evsignal_new(b.base, SIGTERM, on_signal, &b);
	ev_int = evsignal_new(b.base, SIGINT, on_signal, &b);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);

	port_txt = gq_asprintf("%d\n", gq_webhook_port(b.w));
	rc = write_file(dir, "port", port_txt, 0644);
	if (rc != GQ_OK)
		goto out;
	fprintf(stderr, "webhook_server: https://127.0.0.1:%d%s teams=%d pid=%ld\n",
		gq_webhook_port(b.w), ROUTE, n_teams, (long)getpid());

	event_base_dispatch(b.base);

	gq_webhook_get_stats(b.w, &ws);
	gq_registry_get_stats(reg, &bs);
	fprintf(stderr,
		"webhook_server: requests=%llu connections=%llu 4xx=%llu 5xx=%llu "
		"reviews=%llu malformed=%llu denied=%llu\n",
		(unsigned long long)ws.requests, (unsigned long long)ws.connections,
		(unsigned long long)ws.errors_4xx, (unsigned long long)ws.errors_5xx,
		(unsigned long long)bs.reviews, (unsigned long long)bs.malformed,
		(unsigned long long)bs.denied);
	rc = GQ_OK;
out:
	if (rc != GQ_OK)
		fprintf(stderr, "webhook_server: %s: %s\n", gq_strerror(rc),
			err.msg[0] ? err.msg : "failed");
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	gq_webhook_free(b.w);
	gq_registry_free(reg);
	event_base_free(b.base);
	free(port_txt);
	free(ca_cert);
	free(ca_key);
	free(crt);
	free(key);
	return rc == GQ_OK ? 0 : 1;
}
