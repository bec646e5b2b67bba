/*
 * main.c - the gpuquota-controller command line:
 *   run        the controller (in-cluster or with a kubeconfig)
 *   render     offline: the objects allocations in a file would produce
 *   validate   offline: schema and semantic checks with line numbers
 *   version
 *
 * Exit codes: 0 success; 1 invalid input (validate/render found errors) or
 * the controller failed; 2 usage error; 3 configuration or I/O error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "admission.h"
#include "controller.h"
#include "desired.h"
#include "election.h"
#include "kubeconfig.h"
#include "log.h"
#include "json.h"
#include "spec.h"
#include "yamldoc.h"
#include "yamlout.h"

#ifndef GQ_VERSION
#define GQ_VERSION "dev"
#endif

enum { EXIT_INVALID = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

/* Prints the top-level usage to f. */
static void usage_main(FILE *f)
{
	fprintf(f,
		"Usage: gpuquota-controller COMMAND [OPTIONS]\n"
		"\n"
		"GPU quotas, priority tiers and GPU-hour budgets for Kubernetes teams.\n"
		"\n"
		"Commands:\n"
		"  run        run the controller\n"
		"  render     print the objects the allocations in a file would produce (offline)\n"
		"  validate   check allocations in a file, with line numbers (offline)\n"
		"  version    print the version\n"
		"\n"
		"Run 'gpuquota-controller COMMAND --help' for a command's options.\n"
		"Exit codes: 0 ok, 1 invalid input or controller failure, 2 usage error,\n"
		"3 configuration or I/O error.\n");
}

/* --------------------------------------------------------------- run */

/* Prints the usage of the run command to f. */
static void usage_run(FILE *f)
{
	fprintf(
	    f,
	    "Usage: gpuquota-controller run [OPTIONS]\n"
	    "\n"
	    "Runs the controller until SIGTERM or SIGINT.\n"
	    "\n"
	    "  --kubeconfig FILE            kubeconfig to use (default: $KUBECONFIG, then the\n"
	    "                               in-cluster service account, then ~/.kube/config)\n"
	    "  --context NAME               kubeconfig context (default: current-context)\n"
	    "  --namespace NS               namespace of the controller's own objects\n"
	    "                               (default: $POD_NAMESPACE or gpuquota-system)\n"
	    "  --workers N                  concurrent team reconciles (default 2)\n"
	    "  --resync-period DURATION     periodic full resync, e.g. 30s, 10m (default 10m)\n"
	    "  --metrics-bind-address ADDR  /metrics listen address (default :8080, \"\" off)\n"
	    "  --health-probe-bind-address ADDR\n"
	    "                               /healthz and /readyz address (default :8081)\n"
	    "  --ledger-interval DURATION   accounting pass of teams with a budget (default 10s)\n"
	    "  --ledger-write-interval DURATION\n"
	    "                               status usage written at most this often while pods\n"
	    "                               run; ends, thresholds, rollovers at once (default "
	    "60s)\n"
	    "  --sharing-pending-timeout DURATION\n"
	    "                               a MIG layout change the MIG manager leaves pending\n"
	    "                               this long is requested again (default 10m)\n"
	    "  --watch-timeout DURATION     timeoutSeconds of every watch, whole seconds\n"
	    "                               (default: random in 240s..360s per watch)\n"
	    "  --watch-list[=true|false]    list by streaming (a watch with\n"
	    "                               sendInitialEvents) instead of in pages; an\n"
	    "                               apiserver that refuses it is listed in pages\n"
	    "                               (default true)\n"
	    "  --webhook-bind-address ADDR  HTTPS admission webhook (default :9443, \"\" off)\n"
	    "  --webhook-service NAME       Service in the certificate (default gpuquota-webhook)\n"
	    "  --webhook-secret NAME        Secret keeping the webhook CA and certificate\n"
	    "                               (default gpuquota-webhook-tls)\n"
	    "  --webhook-config NAME        MutatingWebhookConfiguration that gets the CA\n"
	    "                               bundle (default gpuquota, \"\" none)\n"
	    "  --webhook-hosts LIST         extra certificate DNS names/IPs, comma separated\n"
	    "  --webhook-cert-dir DIR       use tls.crt/tls.key/ca.crt from DIR (cert-manager)\n"
	    "                               instead of managing the certificate\n"
	    "  --webhook-cert-days N        serving certificate lifetime (default 365)\n"
	    "  --webhook-cert-check-interval DURATION\n"
	    "                               how often the certificate is checked and renewed\n"
	    "                               once a third of its lifetime is left (default 1h)\n"
	    "  --webhook-handshake-timeout DURATION\n"
	    "                               accept to a request's first byte, TLS handshake\n"
	    "                               included (default 5s)\n"
	    "  --webhook-header-timeout DURATION\n"
	    "                               a request's first byte to the end of its head (5s)\n"
	    "  --webhook-request-timeout DURATION\n"
	    "                               a request's first byte to the end of its body (10s)\n"
	    "  --webhook-idle-timeout DURATION\n"
	    "                               idle keep-alive connection (default 10s)\n"
	    "  --webhook-max-connections N  open webhook connections (default 256)\n"
	    "  --webhook-max-buffered SIZE  request bodies buffered over all connections,\n"
	    "                               e.g. 64Mi (default 64Mi)\n"
	    "  --webhook-max-body SIZE      largest AdmissionReview body (default 20Mi; 413 "
	    "above)\n"
	    "  --shutdown-grace DURATION    after SIGTERM: not ready, webhook still accepts and\n"
	    "                               serves, replies ask to close (default 5s)\n"
	    "  --leader-elect[=true|false]  only the holder of a Lease in --namespace writes;\n"
	    "                               every replica serves the webhook (default false;\n"
	    "                               the Deployment turns it on). Identity: $POD_NAME,\n"
	    "                               else the hostname\n"
	    "  --leader-elect-lease-duration DURATION\n"
	    "                               how long a lease is valid for the others after they\n"
	    "                               last saw it change (default 15s, whole seconds)\n"
	    "  --leader-elect-renew-deadline DURATION\n"
	    "                               the leader stops writing when it could not renew\n"
	    "                               for this long (default 10s)\n"
	    "  --leader-elect-retry-period DURATION\n"
	    "                               between attempts to acquire or renew (default 2s)\n"
	    "  --leader-elect-resource-name NAME\n"
	    "                               the Lease (default gpuquota-controller)\n"
	    "  --log-format text|json       (default text)\n"
	    "  --log-level debug|info|warn|error (default info)\n");
}

/*
 * Parses "90s", "10m", "1h", "1h30m", "500ms" or plain seconds into
 * milliseconds: parts of 0..1000000 units each, a positive total. GQ_OK, or
 * GQ_EINVAL with *out untouched.
 */
static int parse_duration_ms(const char *s, int64_t *out)
{
	int64_t total = 0;
	const char *p = s;

	if (*p == '\0')
		return GQ_EINVAL;
	while (*p) {
		char *end;
		long long n = strtoll(p, &end, 10);
		int64_t mult;

		if (end == p || n < 0 || n > 1000000)
			return GQ_EINVAL;
		if (*end == 'h')
			mult = 3600000;
		else if (*end == 'm' && end[1] == 's')
			mult = 1, end++;
		else if (*end == 'm')
			mult = 60000;
		else if (*end == 's' || *end == '\0')
			mult = 1000;
		else
			return GQ_EINVAL;
		total += n * mult;
		p = *end ? end + 1 : end;
	}
	*out = total;
	return total > 0 ? GQ_OK : GQ_EINVAL;
}

/* Parses a byte size: digits with an optional Ki, Mi or Gi suffix, more than
 * 0 and at most 16 GiB. GQ_OK, or GQ_EINVAL with *out untouched. */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long n = strtoull(s, &end, 10);
	unsigned long long mult = 1;

	if (end == s || *s == '-' || n > (1ull << 40))
		return GQ_EINVAL;
	if (strcmp(end, "Ki") == 0)
		mult = 1ull << 10;
	else if (strcmp(end, "Mi") == 0)
		mult = 1ull << 20;
	else if (strcmp(end, "Gi") == 0)
		mult = 1ull << 30;
	else if (*end != '\0')
		return GQ_EINVAL;
	if (n == 0 || n > (16ull << 30) / mult) /* no n * mult overflow */
		return GQ_EINVAL;
	*out = (size_t)(n * mult);
	return GQ_OK;
}

/*
 * Parses one of the webhook's limit flags (getopt code c, 1001..1007) into
 * *wo: the four timeouts (whole seconds, at most 1 h), the connection count
 * (1..100000), the buffered-bytes bound, and the body bound (at most
 * GQ_ADMISSION_MAX_BODY). GQ_OK or GQ_EINVAL.
 */
static int parse_webhook_limit(int c, const char *arg, struct gq_webhook_opts *wo)
{
	int *secs[] = {&wo->handshake_timeout_s, &wo->header_timeout_s, &wo->request_timeout_s,
		       &wo->timeout_s};
	int64_t ms;
	char *end;
	long n;

	if (c >= 1001 && c <= 1004) {
		if (parse_duration_ms(arg, &ms) != GQ_OK || ms % 1000 != 0 || ms > 3600000)
			return GQ_EINVAL;
		*secs[c - 1001] = (int)(ms / 1000);
		return GQ_OK;
	}
	if (c == 1005) {
		n = strtol(arg, &end, 10);
		if (*end || n < 1 || n > 100000)
			return GQ_EINVAL;
		wo->max_connections = (int)n;
		return GQ_OK;
	}
	if (c == 1006)
		return parse_size(arg, &wo->max_buffered);
	if (parse_size(arg, &wo->max_body) != GQ_OK || wo->max_body > GQ_ADMISSION_MAX_BODY)
		return GQ_EINVAL;
	return GQ_OK;
}

/* The flags of the run command (usage_run). */
static const struct option run_longopts[] = {
    {"kubeconfig", required_argument, NULL, 'k'},
    {"context", required_argument, NULL, 'c'},
    {"namespace", required_argument, NULL, 'n'},
    {"workers", required_argument, NULL, 'w'},
    {"resync-period", required_argument, NULL, 'r'},
    {"metrics-bind-address", required_argument, NULL, 'm'},
    {"health-probe-bind-address", required_argument, NULL, 'p'},
    {"log-format", required_argument, NULL, 'f'},
    {"ledger-interval", required_argument, NULL, 'L'},
    {"ledger-write-interval", required_argument, NULL, 1020},
    {"sharing-pending-timeout", required_argument, NULL, 1022},
    {"watch-timeout", required_argument, NULL, 1008},
    {"watch-list", optional_argument, NULL, 1021},
    {"webhook-bind-address", required_argument, NULL, 'W'},
    {"webhook-service", required_argument, NULL, 'S'},
    {"webhook-secret", required_argument, NULL, 'T'},
    {"webhook-config", required_argument, NULL, 'C'},
    {"webhook-hosts", required_argument, NULL, 'H'},
    {"webhook-cert-dir", required_argument, NULL, 'D'},
    {"webhook-cert-days", required_argument, NULL, 'Y'},
    {"webhook-cert-check-interval", required_argument, NULL, 'I'},
    {"webhook-handshake-timeout", required_argument, NULL, 1001},
    {"webhook-header-timeout", required_argument, NULL, 1002},
    {"webhook-request-timeout", required_argument, NULL, 1003},
    {"webhook-idle-timeout", required_argument, NULL, 1004},
    {"webhook-max-connections", required_argument, NULL, 1005},
    {"webhook-max-buffered", required_argument, NULL, 1006},
    {"webhook-max-body", required_argument, NULL, 1007},
    {"shutdown-grace", required_argument, NULL, 'G'},
    {"leader-elect", optional_argument, NULL, 1010},
    {"leader-elect-lease-duration", required_argument, NULL, 1011},
    {"leader-elect-renew-deadline", required_argument, NULL, 1012},
    {"leader-elect-retry-period", required_argument, NULL, 1013},
    {"leader-elect-resource-name", required_argument, NULL, 1014},
    {"log-level", required_argument, NULL, 'l'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What cmd_run parses: the controller's options and the local settings. */
struct run_args {
	const char *kubeconfig, *context;
	enum gq_log_level level;
	enum gq_log_format format;
	int64_t resync_ms, ledger_ms, write_ms, grace_ms, cert_check_ms, watch_timeout_ms;
	int64_t pending_ms;
	int64_t lease_ms, renew_ms, retry_ms;
	const char *ns, *metrics, *health, *wh_addr, *wh_svc, *wh_secret, *wh_config, *wh_hosts,
	    *wh_dir, *lease_name, *identity;
	long wh_days, workers;
	bool elect, watch_list;
	struct gq_webhook_opts wlim;
	char host[256]; /* the identity when it is the hostname */
};

/* Parses a whole number in [lo, hi] into *out. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* Reads one duration flag (getopt code c) into its field of a. */
static bool run_duration(int c, const char *arg, struct run_args *a)
{
	int64_t *f = c == 'r'	 ? &a->resync_ms
		     : c == 'L'	 ? &a->ledger_ms
		     : c == 'G'	 ? &a->grace_ms
		     : c == 'I'	 ? &a->cert_check_ms
		     : c == 1011 ? &a->lease_ms
		     : c == 1012 ? &a->renew_ms
				 : &a->retry_ms;

	return parse_duration_ms(arg, f) == GQ_OK;
}

/* An optional boolean flag's value: none or "true" sets *out true,
 * "false" false; anything else leaves *out and returns msg. NULL when
 * taken. */
static const char *bool_flag(const char *arg, bool *out, const char *msg)
{
	if (arg == NULL || strcmp(arg, "true") == 0)
		*out = true;
	else if (strcmp(arg, "false") == 0)
		*out = false;
	else
		return msg;
	return NULL;
}

/*
 * Applies one parsed flag (getopt code c, its argument arg) to a. Returns
 * -1 to go on, else the exit code cmd_run returns at once (0 after --help,
 * EXIT_USAGE with the reason on stderr).
 */
static int run_flag(int c, const char *arg, struct run_args *a)
{
	const char *bad = NULL;

	switch (c) {
	case 'k': a->kubeconfig = arg; break;
	case 'c': a->context = arg; break;
	case 'n': a->ns = arg; break;
	case 'm': a->metrics = arg; break;
	case 'p': a->health = arg; break;
	case 'W': a->wh_addr = arg; break;
	case 'S': a->wh_svc = arg; break;
	case 'T': a->wh_secret = arg; break;
	case 'C': a->wh_config = arg; break;
	case 'H': a->wh_hosts = arg; break;
	case 'D': a->wh_dir = arg; break;
	case 1014: a->lease_name = arg; break;
	case 'w':
		if (!parse_long(arg, 1, 64, &a->workers))
			bad = "--workers must be 1..64";
		break;
	case 'Y':
		if (!parse_long(arg, 1, 3650, &a->wh_days))
			bad = "--webhook-cert-days must be 1..3650";
		break;
	case 'f':
		if (gq_log_parse_format(&a->format, arg) != GQ_OK)
			bad = "--log-format must be text or json";
		break;
	case 'l':
		if (gq_log_parse_level(&a->level, arg) != GQ_OK)
			bad = "--log-level must be debug, info, warn or error";
		break;
	case 'r':
		if (!run_duration(c, arg, a)) {
			fprintf(stderr, "error: bad --resync-period \"%s\"\n", arg);
			return EXIT_USAGE;
		}
		break;
	case 'L':
	case 'G':
	case 'I':
	case 1011:
	case 1012:
	case 1013:
		if (!run_duration(c, arg, a)) {
			fprintf(stderr, "error: bad duration \"%s\"\n", arg);
			return EXIT_USAGE;
		}
		break;
	case 1020:
		if (parse_duration_ms(arg, &a->write_ms) != GQ_OK || a->write_ms < 1000)
			bad = "--ledger-write-interval must be at least 1s";
		break;
	case 1022:
		if (parse_duration_ms(arg, &a->pending_ms) != GQ_OK || a->pending_ms < 1000 ||
		    a->pending_ms > 86400000)
			bad = "--sharing-pending-timeout must be from 1s to 24h";
		break;
	case 1008:
		if (parse_duration_ms(arg, &a->watch_timeout_ms) != GQ_OK ||
		    a->watch_timeout_ms < 1000 || a->watch_timeout_ms % 1000 != 0 ||
		    a->watch_timeout_ms > 3600000)
			bad = "--watch-timeout must be whole seconds, 1s..1h";
		break;
	case 1001:
	case 1002:
	case 1003:
	case 1004:
	case 1005:
	case 1006:
	case 1007:
		if (parse_webhook_limit(c, arg, &a->wlim) != GQ_OK) {
			fprintf(
			    stderr,
			    "error: bad value \"%s\" for a --webhook-* limit (whole seconds up "
			    "to 1h, counts 1..100000, sizes such as 64Mi; --webhook-max-body at "
			    "most %u)\n",
			    arg, GQ_ADMISSION_MAX_BODY);
			return EXIT_USAGE;
		}
		break;
	case 1010: bad = bool_flag(arg, &a->elect, "--leader-elect takes true or false"); break;
	case 1021: bad = bool_flag(arg, &a->watch_list, "--watch-list takes true or false"); break;
	case 'h': usage_run(stdout); return 0;
	default: usage_run(stderr); return EXIT_USAGE;
	}
	if (bad) {
		fprintf(stderr, "error: %s\n", bad);
		return EXIT_USAGE;
	}
	return -1;
}

/* With leader election: the identity ($POD_NAME, else the hostname) and a
 * check of the three durations. GQ_OK or GQ_EINVAL (err set). */
static int run_election(struct run_args *a, struct gq_err *err)
{
	struct gq_election e;
	struct gq_election_cfg ec = {a->identity, a->lease_ms, a->renew_ms, a->retry_ms};

	if (!a->elect)
		return GQ_OK;
	if (a->identity == NULL || a->identity[0] == '\0') {
		if (gethostname(a->host, sizeof(a->host)) != 0)
			a->host[0] = '\0';
		a->host[sizeof(a->host) - 1] = '\0';
		a->identity = ec.identity = a->host;
	}
	return gq_election_init(&e, &ec, err);
}

/* The cluster configuration: --kubeconfig / $KUBECONFIG, else in-cluster,
 * else ~/.kube/config, into *kc (the caller frees it). */
static int run_config(const struct run_args *a, struct gq_kubeconfig *kc, struct gq_err *err)
{
	char *home_cfg;
	int rc;

	if (a->kubeconfig && a->kubeconfig[0])
		return gq_kubeconfig_load(kc, a->kubeconfig, a->context, err);
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return gq_kubeconfig_in_cluster(kc, err);
	home_cfg = gq_asprintf("%s/.kube/config", getenv("HOME") ? getenv("HOME") : "");
	rc = gq_kubeconfig_load(kc, home_cfg, a->context, err);
	free(home_cfg);
	return rc;
}

/*
 * The run command (argv[0] is "run"): parses the options, checks the leader
 * election settings (with --leader-elect), loads the cluster configuration
 * (--kubeconfig, $KUBECONFIG, in-cluster, then ~/.kube/config), initialises
 * libcurl and runs the controller until a signal. Returns the exit code: 0,
 * EXIT_USAGE, EXIT_CONFIG, or EXIT_INVALID when the controller failed.
 */
static int cmd_run(int argc, char **argv)
{
	struct run_args a = {
	    .kubeconfig = getenv("KUBECONFIG"),
	    .level = GQ_LOG_INFO,
	    .format = GQ_LOG_TEXT,
	    .resync_ms = 600000,
	    .ledger_ms = 10000,
	    .write_ms = 60000,
	    .pending_ms = 600000,
	    .watch_list = true,
	    .grace_ms = 5000,
	    .cert_check_ms = 3600000,
	    .lease_ms = 15000,
	    .renew_ms = 10000,
	    .retry_ms = 2000,
	    .ns = getenv("POD_NAMESPACE") ? getenv("POD_NAMESPACE") : "gpuquota-system",
	    .metrics = ":8080", /* ":8080" means all addresses */
	    .health = ":8081",
	    .wh_addr = ":9443",
	    .wh_svc = "gpuquota-webhook",
	    .wh_secret = "gpuquota-webhook-tls",
	    .wh_config = "gpuquota",
	    .wh_hosts = "",
	    .wh_dir = "",
	    .lease_name = "gpuquota-controller",
	    .identity = getenv("POD_NAME"),
	    .wh_days = 365,
	    .workers = 2,
	};
	struct gq_kubeconfig kc = {0};
	struct gq_err err = {0};
	struct gq_controller_opts opts;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", run_longopts, NULL)) != -1)
		if ((rc = run_flag(c, optarg, &a)) >= 0)
			return rc;
	if (optind != argc) {
		usage_run(stderr);
		return EXIT_USAGE;
	}
	gq_log_setup(a.level, a.format);
	if (run_election(&a, &err) != GQ_OK) {
		fprintf(stderr, "error: leader election: %s\n", err.msg);
		return EXIT_USAGE;
	}
	if (run_config(&a, &kc, &err) != GQ_OK) {
		gq_error("cannot load the cluster configuration | error=%s", err.msg);
		return EXIT_CONFIG;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	opts = (struct gq_controller_opts){
	    &kc,	a.ns,		(int)a.workers,	 a.resync_ms,
	    a.metrics,	a.health,	a.ledger_ms,	 a.wh_addr,
	    a.wh_svc,	a.wh_secret,	a.wh_config,	 a.wh_hosts,
	    a.wh_dir,	(int)a.wh_days, (int)a.grace_ms, a.cert_check_ms,
	    a.wlim,	a.elect,	a.lease_name,	 a.identity,
	    a.lease_ms, a.renew_ms,	a.retry_ms,	 (int)(a.watch_timeout_ms / 1000),
	    a.write_ms, a.watch_list, a.pending_ms};
	rc = gq_controller_run(&opts, &err);
	gq_kubeconfig_free(&kc);
	curl_global_cleanup();
	if (rc != GQ_OK) {
		gq_error("controller failed | error=%s", err.msg);
		return EXIT_INVALID;
	}
	return 0;
}

/* ---------------------------------------------------- render, validate */

/* Whether doc's kind is GPUTeamAllocation (whatever its apiVersion). */
static bool is_allocation(const struct gq_yamldoc *doc)
{
	const char *kind = gq_json_str(doc->root, GQ_PATH("kind"));

	return kind && strcmp(kind, GQ_KIND) == 0;
}

/*
 * Line of the field an error message starts with ("spec.a.b[key]: ..."): the
 * line of doc's node nearest to that path, or the document's own line when
 * msg starts with no path.
 */
static unsigned error_line(const struct gq_yamldoc *doc, const char *msg)
{
	char buf[512], *segs[32];
	size_t n = 0, i = 0, len = strcspn(msg, ": ");
	const char *path[33];

	if (len == 0 || len >= sizeof(buf))
		return doc->line;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	while (i < len && n < GQ_ARRAY_LEN(segs)) {
		if (buf[i] == '[') {
			char *close = strchr(&buf[i], ']');

			if (!close)
				break;
			*close = '\0';
			segs[n++] = &buf[i + 1];
			i = (size_t)(close - buf) + 1;
			if (i < len && buf[i] == '.')
				i++;
			continue;
		}
		segs[n++] = &buf[i];
		while (i < len && buf[i] != '.' && buf[i] != '[')
			i++;
		if (i < len && buf[i] == '.')
			buf[i++] = '\0';
		else if (i < len && buf[i] == '[') {
			memmove(&buf[i + 1], &buf[i], len - i + 1);
			buf[i] = '\0';
			len++;
			i++;
		}
	}
	for (size_t k = 0; k < n; k++)
		path[k] = segs[k];
	path[n] = NULL;
	return gq_yamldoc_line_nearest(doc, path);
}

/*
 * Parses the options of render and validate: -f/--filename FILE, required,
 * into *file (borrowed from argv). Returns 0, -1 after --help (usage printed
 * to stdout), or EXIT_USAGE (usage printed to stderr).
 */
static int parse_file_args(int argc, char **argv, const char **file, void (*usage)(FILE *))
{
	static const struct option longopts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	*file = NULL;
	while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': *file = optarg; break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (*file == NULL || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/* Prints the usage of the validate command to f. */
static void usage_validate(FILE *f)
{
	fprintf(f, "Usage: gpuquota-controller validate -f FILE\n"
		   "\n"
		   "Checks every GPUTeamAllocation in FILE (YAML or JSON, '-' for stdin)\n"
		   "against the schema and semantic rules the apiserver applies, printing\n"
		   "FILE:LINE: error: MESSAGE for each problem. Other kinds are ignored.\n"
		   "Exit codes: 0 all valid, 1 some invalid, 2 usage, 3 unreadable file.\n");
}

/* Prints the usage of the render command to f. */
static void usage_render(FILE *f)
{
	fprintf(f, "Usage: gpuquota-controller render -f FILE\n"
		   "\n"
		   "Prints, as YAML, the objects the GPUTeamAllocations in FILE would produce\n"
		   "(PriorityClasses, and per listed namespace: its labels, the\n"
		   "ResourceQuotas and the LimitRange), for review in pull requests; a\n"
		   "team with spec.sharing also gets comment lines saying what its pool's\n"
		   "nodes and its GPU pods get in-cluster (node labels and taint, the\n"
		   "webhook's nodeSelector and toleration). No\n"
		   "cluster is needed: namespaceSelector matches and node GPU resources are\n"
		   "only known in-cluster, and each namespace is shown with the full team\n"
		   "quota (in-cluster it is split by usage across the team's namespaces).\n"
		   "Exit codes: 0 ok, 1 invalid allocation, 2 usage, 3 unreadable file.\n");
}

/*
 * Reads and parses the YAML documents of file ("-": stdin, less than 8 MiB)
 * into *docs, owned by the caller (gq_yamldoc_list_free). Returns 0,
 * EXIT_CONFIG (unreadable or too large) or EXIT_INVALID (not YAML), the error
 * printed to stderr.
 */
static int load_docs(const char *file, struct gq_yamldoc_list *docs)
{
	struct gq_err err = {0};
	int rc;

	if (strcmp(file, "-") == 0) {
		char *data = NULL;
		size_t cap = 0, len = 0, n;

		do {
			if (len == cap) {
				cap = cap ? cap * 2 : 65536;
				if (cap > (8u << 20)) {
					free(data);
					fprintf(stderr, "-: error: input larger than 8 MiB\n");
					return EXIT_CONFIG;
				}
				data = gq_realloc(data, cap);
			}
			n = fread(data + len, 1, cap - len, stdin);
			len += n;
		} while (n > 0);
		rc = gq_yamldoc_parse(docs, data ? data : "", len, &err);
		free(data);
	} else {
		rc = gq_yamldoc_parse_file(docs, file, &err);
	}
	if (rc == GQ_EIO || rc == GQ_ETOOBIG) {
		fprintf(stderr, "%s: error: %s\n", file, err.msg);
		return EXIT_CONFIG;
	}
	if (rc != GQ_OK) {
		fprintf(stderr, "%s: error: %s\n", file, err.msg);
		return EXIT_INVALID;
	}
	return 0;
}

/*
 * The validate command: decodes every GPUTeamAllocation of the file, prints
 * FILE:LINE: error: MESSAGE for each invalid one and a summary line. Returns
 * 0, EXIT_INVALID (some invalid), EXIT_USAGE or EXIT_CONFIG.
 */
static int cmd_validate(int argc, char **argv)
{
	struct gq_yamldoc_list docs = {0};
	const char *file;
	int rc = parse_file_args(argc, argv, &file, usage_validate), bad = 0, good = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = load_docs(file, &docs);
	if (rc)
		return rc;
	for (size_t i = 0; i < docs.n; i++) {
		struct gq_team t = {0};
		struct gq_err err = {0};
		const char *api = gq_json_str(docs.docs[i].root, GQ_PATH("apiVersion"));

		if (!is_allocation(&docs.docs[i]))
			continue;
		if (!api || strcmp(api, GQ_API_VERSION) != 0) {
			fprintf(stderr, "%s:%u: error: apiVersion must be %s\n", file,
				docs.docs[i].line, GQ_API_VERSION);
			bad++;
			continue;
		}
		if (gq_team_decode(&t, docs.docs[i].root, &err) != GQ_OK) {
			fprintf(stderr, "%s:%u: error: %s\n", file,
				error_line(&docs.docs[i], err.msg), err.msg);
			bad++;
		} else {
			good++;
		}
		gq_team_free(&t);
	}
	gq_yamldoc_list_free(&docs);
	printf("%s: %d allocation(s) valid, %d invalid\n", file, good, bad);
	return bad ? EXIT_INVALID : 0;
}

/* Drops the null members of tree's metadata.labels (in place): a label the
 * controller removes when present, not one that the object carries. */
static void drop_null_labels(yajl_val tree)
{
	yajl_val l = gq_json_obj(tree, GQ_PATH("metadata", "labels"));
	size_t k = 0;

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->u.object.len; i++) {
		if (YAJL_IS_NULL(l->u.object.values[i])) {
			free((char *)l->u.object.keys[i]);
			yajl_tree_free(l->u.object.values[i]);
			continue;
		}
		l->u.object.keys[k] = l->u.object.keys[i];
		l->u.object.values[k++] = l->u.object.values[i];
	}
	l->u.object.len = k;
}

/* Prints selector sel as "k=v, k in (a,b), k" (Kubernetes' text form). */
static void print_selector(FILE *f, const struct gq_selector *sel)
{
	static const char *const ops[] = {" in ", " notin ", "", "!"};
	const char *sep = "";

	for (size_t i = 0; i < sel->match_labels.n; i++, sep = ", ")
		fprintf(f, "%s%s=%s", sep, sel->match_labels.items[i].key,
			sel->match_labels.items[i].value);
	for (size_t i = 0; i < sel->n_exprs; i++, sep = ", ") {
		const struct gq_sel_req *r = &sel->exprs[i];
		bool list = r->op == GQ_SEL_IN || r->op == GQ_SEL_NOT_IN;

		if (r->op == GQ_SEL_DOES_NOT_EXIST)
			fprintf(f, "%s!%s", sep, r->key);
		else
			fprintf(f, "%s%s%s", sep, r->key, list ? ops[r->op] : "");
		for (size_t k = 0; list && k < r->n_values; k++)
			fprintf(f, "%s%s%s", k ? "," : "(", r->values[k],
				k + 1 == r->n_values ? ")" : "");
	}
	if (*sep == '\0')
		fprintf(f, "(every node)");
}

/*
 * What spec.sharing of t does in-cluster, as YAML comments (nodes are only
 * known there): the pool's selector, the labels and taint its nodes get,
 * and the pinning of the team's GPU pods by the webhook.
 */
static void render_sharing(FILE *f, const struct gq_team *t)
{
	const struct gq_sharing *s = &t->sharing;

	if (!s->present)
		return;
	fprintf(f, "# team %s: node pool (spec.sharing), applied in-cluster to the nodes "
		   "matching: ",
		t->name);
	print_selector(f, &s->node_selector);
	fprintf(f, "\n#   node labels: gpuquota.io/pool=%s", t->name);
	if (s->mig_config)
		fprintf(f, ", nvidia.com/mig.config=%s (at most %d node(s) at a time "
			   "cordoned and drained, drainTimeout %llds, evict %s)",
			s->mig_config, s->max_unavailable, (long long)(s->drain_timeout_ms / 1000),
			s->evict ? "true" : "false");
	if (s->device_plugin_config && s->device_plugin_config[0])
		fprintf(f, ", nvidia.com/device-plugin.config=%s", s->device_plugin_config);
	fprintf(f, "\n#   node taint: gpuquota.io/pool=%s:NoSchedule (other teams' pods stay "
		   "off)\n",
		t->name);
	fprintf(f, "#   %s of the team's namespaces get (webhook): nodeSelector "
		   "gpuquota.io/pool=%s, toleration gpuquota.io/pool=%s:NoSchedule\n",
		s->mig_config ? "pods asking for MIG slices (whole-GPU pods too while a pool "
				"node offers whole GPUs)"
			      : "GPU pods",
		t->name, t->name);
}

/*
 * The render command: prints as YAML the objects each GPUTeamAllocation of
 * the file produces, each listed namespace with the team's full quota and the
 * PriorityClasses once. Returns 0, EXIT_INVALID (some allocation invalid or
 * not renderable), EXIT_USAGE or EXIT_CONFIG.
 */
static int cmd_render(int argc, char **argv)
{
	struct gq_yamldoc_list docs = {0};
	const char *file;
	int rc = parse_file_args(argc, argv, &file, usage_render), bad = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = load_docs(file, &docs);
	if (rc)
		return rc;
	for (size_t i = 0; i < docs.n; i++) {
		struct gq_team t = {0};
		struct gq_err err = {0};
		struct gq_desired_list dl = {0};
		struct gq_ns_usage *usage;

		if (!is_allocation(&docs.docs[i]))
			continue;
		if (gq_team_decode(&t, docs.docs[i].root, &err) != GQ_OK) {
			fprintf(stderr, "%s:%u: error: %s\n", file,
				error_line(&docs.docs[i], err.msg), err.msg);
			bad++;
			continue;
		}
		if (t.namespace_selector.present)
			fprintf(stderr,
				"%s: note: team %s: namespaceSelector is resolved in-cluster; only "
				"listed namespaces are rendered\n",
				file, t.name);
		render_sharing(stdout, &t);
		usage = gq_calloc(t.n_namespaces ? t.n_namespaces : 1, sizeof(*usage));
		for (size_t k = 0; k < t.n_namespaces; k++)
			usage[k].ns = t.namespaces[k];
		/* Offline, each namespace is shown with the team's full quota. */
		for (size_t k = 0; k < t.n_namespaces && rc == 0; k++) {
			if (gq_desired_build(&dl, &t, &usage[k], 1, NULL, 0, &err) != GQ_OK) {
				fprintf(stderr, "%s: error: team %s: %s\n", file, t.name, err.msg);
				bad++;
				break;
			}
			for (size_t j = 0; j < dl.n; j++) {
				/* PriorityClasses once, with the first namespace. */
				if (k > 0 && strcmp(dl.items[j].kind, "PriorityClass") == 0)
					continue;
				drop_null_labels(dl.items[j].tree);
				gq_yamlout_write(stdout, dl.items[j].tree);
			}
			gq_desired_list_free(&dl);
		}
		if (t.n_namespaces == 0 &&
		    gq_desired_build(&dl, &t, NULL, 0, NULL, 0, &err) == GQ_OK) {
			for (size_t j = 0; j < dl.n; j++)
				gq_yamlout_write(stdout, dl.items[j].tree);
			gq_desired_list_free(&dl);
		}
		free(usage);
		gq_team_free(&t);
	}
	gq_yamldoc_list_free(&docs);
	return bad ? EXIT_INVALID : 0;
}

/* Runs the command named by argv[1] and returns its exit code (EXIT_USAGE for
 * a missing or unknown command). */
int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "render") == 0)
		return cmd_render(argc - 1, argv + 1);
	if (strcmp(argv[1], "validate") == 0)
		return cmd_validate(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0) {
		printf("gpuquota-controller %s\n", GQ_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_main(stdout);
		return 0;
	}
	fprintf(stderr, "error: unknown command \"%s\"\n\n", argv[1]);
	usage_main(stderr);
	return EXIT_USAGE;
}
