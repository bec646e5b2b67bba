/*
 * controller.h - the running controller: informers feeding a work queue,
 * reconcile workers, periodic resync, health and metrics endpoints, and
 * graceful shutdown on SIGTERM/SIGINT.
 *
 * With leader_elect, every replica keeps its caches and runs the same
 * reconcile passes, so that its webhook decides from its own state; only
 * the holder of the Lease writes (see leader.h and reconcile.h). On SIGTERM
 * the leader stops taking keys, finishes the reconciles in progress (a
 * ledger write included), then releases the Lease, while the webhook
 * drains.
 */
#ifndef GQ_CONTROLLER_H
#define GQ_CONTROLLER_H

#include <stdint.h>

#include "gq.h"
#include "webhook.h"
#include "kubeconfig.h"
#include <stdbool.h>

struct gq_controller_opts {
	const struct gq_kubeconfig *kubeconfig; /* borrowed */
	const char *namespace;			/* the controller's own namespace */
	int workers;				/* reconcile threads (>= 1) */
	int64_t resync_ms;			/* periodic full resync */
	const char *metrics_addr;		/* "host:port" for /metrics, "" = off */
	const char *health_addr;		/* "host:port" for /healthz, /readyz, "" = off */
	int64_t ledger_interval_ms;		/* accounting pass of teams with a budget */
	const char *webhook_addr;     /* "host:port" of the HTTPS admission webhook, "" = off */
	const char *webhook_service;  /* Service name in the certificate */
	const char *webhook_secret;   /* Secret keeping the CA and certificate */
	const char *webhook_config;   /* MutatingWebhookConfiguration to inject the CA into */
	const char *webhook_hosts;    /* extra certificate names/IPs, comma separated */
	const char *webhook_cert_dir; /* cert-manager mode: tls.crt/tls.key/ca.crt here */
	int webhook_cert_days;	      /* serving certificate lifetime */
	int drain_ms;		      /* keep serving this long after SIGTERM */
	int64_t cert_check_ms;	      /* how often the certificate is checked for
				       * renewal (0: hourly) */
	struct gq_webhook_opts webhook_limits; /* deadlines and caps (addr unused; 0 = default) */
	bool leader_elect;		       /* only the Lease holder writes */
	const char *leader_elect_name;	       /* the Lease, in namespace */
	const char *identity;		       /* holder identity (the pod name) */
	int64_t lease_ms, renew_deadline_ms, retry_ms; /* client-go's three durations */
	int watch_timeout_s;		  /* timeoutSeconds of every watch; 0 = random 240..360 */
	int64_t ledger_write_interval_ms; /* usage written at most this often (0: 60 s) */
	bool watch_list;		  /* list by streaming (gq_informers_set_watch_list) */
	int64_t share_pending_timeout_ms; /* a MIG change stuck pending (0: 10 min) */
};

/*
 * Runs until SIGTERM/SIGINT, on the calling thread (the event loop) with
 * the informer, election and worker threads it starts. opts and what it
 * points to are borrowed until it returns. libcurl must be initialised
 * (curl_global_init) before. It ignores SIGPIPE for the process. Returns 0
 * on a clean stop, or an error code when start-up fails (err says why);
 * everything it created is freed either way.
 */
int gq_controller_run(const struct gq_controller_opts *opts, struct gq_err *err);

#endif
