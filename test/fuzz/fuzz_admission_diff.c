/*
 * fuzz_admission_diff.c - differential libFuzzer target for the AdmissionReview
 * decoders (admission_decode.c, and the reference test/oracle/admission_tree.c).
 *
 * Input: an AdmissionReview body. It is decoded by both decoders: the
 * streaming one the webhook uses (gq_admission_decode) and the reference
 * that builds a yajl_tree first (gq_admission_decode_tree). They must agree
 * exactly: the same return code, the same error message, and on success the
 * same request, field by field (strings compared by content, arrays by
 * length and element, and whether each pointer is NULL); on an error, the
 * same refused_gpu_pod and uid (admission.h: a refused GPU pod CREATE keeps
 * its uid, anything else nothing). A difference is
 * printed and aborts. Must never crash, leak or trip ASan/UBSan.
 *
 * Build (libFuzzer): clang-14 -fsanitize=fuzzer,address,undefined ... with
 * every controller/src file but main.c, and the test/oracle sources. Replay
 * without libFuzzer: link with test/fuzz/standalone.c (`make unit` replays
 * corpus/admission_diff/).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "admission_tree.h"
#include "gq.h"

static void differ(const char *what, const char *a, const char *b)
{
	fprintf(stderr, "fuzz_admission_diff: decoders differ in %s:\n  stream: %s\n  tree:   %s\n",
		what, a ? a : "(null)", b ? b : "(null)");
	abort();
}

static void same_str(const char *what, const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
		differ(what, a, b);
}

static void same_int(const char *what, long long a, long long b)
{
	char sa[32], sb[32];

	if (a == b)
		return;
	snprintf(sa, sizeof(sa), "%lld", a);
	snprintf(sb, sizeof(sb), "%lld", b);
	differ(what, sa, sb);
}

static void same_ptr(const char *what, const void *a, const void *b)
{
	if ((a == NULL) != (b == NULL))
		differ(what, a ? "set" : "NULL", b ? "set" : "NULL");
}

/* Compares every field of two decoded requests. */
static void same_request(const struct gq_adm_request *a, const struct gq_adm_request *b)
{
	size_t i;

	same_str("uid", a->uid, b->uid);
	same_str("operation", a->operation, b->operation);
	same_int("is_pod", a->is_pod, b->is_pod);
	same_int("is_pod_create", a->is_pod_create, b->is_pod_create);
	same_str("namespace", a->namespace, b->namespace);
	same_str("name", a->name, b->name);
	same_str("generate_name", a->generate_name, b->generate_name);
	same_int("dry_run", a->dry_run, b->dry_run);
	same_int("has_finalizers", a->has_finalizers, b->has_finalizers);
	same_int("has_accounting_finalizer", a->has_accounting_finalizer,
		 b->has_accounting_finalizer);
	same_str("priority_class", a->priority_class, b->priority_class);
	same_int("has_priority", a->has_priority, b->has_priority);
	same_int("has_preemption_policy", a->has_preemption_policy, b->has_preemption_policy);
	same_int("active_deadline", a->active_deadline, b->active_deadline);
	same_int("has_node_selector", a->has_node_selector, b->has_node_selector);
	same_int("has_tolerations", a->has_tolerations, b->has_tolerations);
	same_int("tolerates_pool", a->tolerates_pool, b->tolerates_pool);
	same_int("has_gates", a->has_gates, b->has_gates);
	same_ptr("gates", a->gates, b->gates);
	same_int("n_gates", (long long)a->n_gates, (long long)b->n_gates);
	for (i = 0; i < a->n_gates; i++)
		same_str("gates[i]", a->gates[i], b->gates[i]);
	same_ptr("gpus", a->gpus, b->gpus);
	same_int("n_gpus", (long long)a->n_gpus, (long long)b->n_gpus);
	for (i = 0; i < a->n_gpus; i++) {
		same_str("gpus[i].resource", a->gpus[i].resource, b->gpus[i].resource);
		same_int("gpus[i].count", a->gpus[i].count, b->gpus[i].count);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_adm_request a, b;
	struct gq_err ea, eb;
	int ra, rb;

	ea.msg[0] = eb.msg[0] = '\0';
	ra = gq_admission_decode(&a, (const char *)data, size, &ea);
	rb = gq_admission_decode_tree(&b, (const char *)data, size, &eb);
	same_str("return code", gq_strerror(ra), gq_strerror(rb));
	same_str("error message", ea.msg, eb.msg);
	same_int("refused_gpu_pod", a.refused_gpu_pod, b.refused_gpu_pod);
	if (ra == GQ_OK)
		same_request(&a, &b);
	else if (a.gpus != NULL || a.gates != NULL || a.operation != NULL ||
		 (a.uid != NULL) != a.refused_gpu_pod)
		differ("after an error", "holds memory", "(zeroed but a refused GPU pod's uid)");
	else
		same_str("uid after an error", a.uid, b.uid);
	gq_adm_request_free(&a);
	gq_adm_request_free(&b);
	return 0;
}
