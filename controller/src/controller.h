/*
 * controller.h - the running controller: informers feeding a work queue,
 * reconcile workers, periodic resync, health and metrics endpoints, and
 * graceful shutdown on SIGTERM/SIGINT.
 */
#ifndef GQ_CONTROLLER_H
#define GQ_CONTROLLER_H

#include <stdint.h>

#include "gq.h"
#include "kubeconfig.h"

struct gq_controller_opts {
	const struct gq_kubeconfig *kubeconfig; /* borrowed */
	const char *namespace;       /* the controller's own namespace */
	int workers;                 /* reconcile threads (>= 1) */
	int64_t resync_ms;           /* periodic full resync */
	const char *metrics_addr;    /* "host:port" for /metrics, "" = off */
	const char *health_addr;     /* "host:port" for /healthz, /readyz, "" = off */
};

/* Runs until SIGTERM/SIGINT. Returns 0 on a clean stop, or an error code
 * when start-up fails (err says why). */
int gq_controller_run(const struct gq_controller_opts *opts, struct gq_err *err);

#endif
