/*
 * admission_int.h - internal to the AdmissionReview decoding: the pieces of
 * admission_decode.c that a second decoder of the same contract shares with
 * the streaming one, so that both apply one set of rules. Not part of the
 * admission API (admission.h is): the product's only user is
 * admission_decode.c; the tests' reference decoder (a tree walk,
 * test/oracle/admission_tree.c) is the other.
 *
 * What is shared: the checks done before parsing (size, emptiness, NUL
 * bytes, nesting depth), the wording of a parse error, what a failed decode
 * keeps (a refused GPU pod's uid), the reading of one nvidia.com/... member
 * of a container's requests or limits (name bound, quantity, requests
 * before limits), and the fold of the containers into the pod's effective
 * requests (the cost model's rule, cost.h). What is not: walking the JSON,
 * which each decoder does its own way.
 */
#ifndef GQ_ADMISSION_INT_H
#define GQ_ADMISSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "admission.h"
#include "cost.h"
#include "gq.h"

/* Longest field path quoted in a message ("spec.containers[3].resources"),
 * bytes with the NUL. */
#define GQ_ADM_MAX_PATH 160

/* The prefix of the resources read from a pod (nvidia.com/gpu, MIG, ...). */
#define GQ_ADM_NVIDIA_PREFIX GQ_NVIDIA_PREFIX

/* Whether name[0..len) starts with GQ_ADM_NVIDIA_PREFIX. */
static inline bool gq_adm_is_nvidia(const char *name, size_t len)
{
	size_t n = sizeof(GQ_ADM_NVIDIA_PREFIX) - 1;

	return len >= n && memcmp(name, GQ_ADM_NVIDIA_PREFIX, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Before and after parsing                                             */
/* ------------------------------------------------------------------ */

/*
 * Checks done before a decoder parses body[0..len) (borrowed): not over
 * GQ_ADMISSION_MAX_BODY (GQ_ETOOBIG), not empty or NULL, no NUL byte
 * (GQ_EPARSE). Returns GQ_OK or the code; err->msg says why.
 */
int gq_adm_check_body(const char *body, size_t len, struct gq_err *err);

/*
 * Maximum nesting depth of the JSON text body[0..len) (borrowed), counting
 * '{' and '[' outside strings and comments (yajl accepts / * ... * / and //
 * comments). On text yajl accepts, the real depth; stops counting, and
 * returns GQ_ADMISSION_MAX_DEPTH + 1, once that bound is passed. Malformed
 * text is left to the parser.
 */
int gq_adm_json_depth(const char *body, size_t len);

/* Cuts a yajl parse error message s (modified in place) to its first line,
 * without trailing blanks: the next lines quote the input around the error. */
void gq_adm_first_line(char *s);

/*
 * After a decode failed: frees what *out holds, but keeps out->uid and sets
 * out->refused_gpu_pod when the review got past its uid check (uid set and
 * not empty) and gpu (it is a GPU pod CREATE, the rule in admission.h).
 * Ownership of what is kept stays with out (gq_adm_request_free).
 */
void gq_adm_keep_refusal(struct gq_adm_request *out, bool gpu);

/* ------------------------------------------------------------------ */
/* Tolerations                                                          */
/* ------------------------------------------------------------------ */

/* The taint key of the teams' GPU pools (sharing.h's GQ_TAINT_POOL). */
#define GQ_ADM_POOL_KEY "gpuquota.io/pool"

/* What a toleration's key is, for gq_adm_tolerates_pool. */
enum { GQ_ADM_TOL_KEY_ANY, GQ_ADM_TOL_KEY_POOL, GQ_ADM_TOL_KEY_OTHER };

/*
 * Whether a toleration (an object element of spec.tolerations) tolerates a
 * pool taint (GQ_ADM_POOL_KEY, any value, effect NoSchedule): its key is
 * the pool key (any operator or value), or it has no key ("" or absent)
 * and operator Exists (which tolerates every taint); and its effect is
 * absent, "" or NoSchedule. key: GQ_ADM_TOL_KEY_ANY for an absent, null or
 * "" key, GQ_ADM_TOL_KEY_POOL for the pool key, else GQ_ADM_TOL_KEY_OTHER
 * (another key, or a key that is not a string). exists: operator is the
 * string "Exists". no_sched: effect is absent, null, "" or "NoSchedule".
 * Over-approximates on purpose: a pool toleration for another value still
 * counts (it tolerates some team's pool).
 */
static inline bool gq_adm_tolerates_pool(int key, bool exists, bool no_sched)
{
	return no_sched && (key == GQ_ADM_TOL_KEY_POOL || (key == GQ_ADM_TOL_KEY_ANY && exists));
}

/* ------------------------------------------------------------------ */
/* Pod resources                                                        */
/* ------------------------------------------------------------------ */

/* One container's nvidia.com/... demand, per resource. */
struct gq_adm_cres {
	const char *name; /* borrowed from the decoder's input (tree or arena) */
	int64_t count;
	bool from_request; /* set by requests (limits do not override it) */
};

struct gq_adm_cres_table {
	struct gq_adm_cres items[GQ_ADMISSION_MAX_RESOURCES];
	size_t n; /* start at 0 */
};

/* Per-resource accumulator over the pod's containers. */
struct gq_adm_acc {
	const char *name;     /* borrowed from the decoder's input (tree or arena) */
	struct gq_cost_acc a; /* the effective-request rule of the cost model */
};

struct gq_adm_acc_table {
	struct gq_adm_acc items[GQ_ADMISSION_MAX_RESOURCES];
	size_t n; /* start at 0 */
};

/*
 * Reads one member of a container's resources.requests (is_request) or
 * .limits into t. The caller passes only the members whose name is a
 * nvidia.com/... one (gq_adm_is_nvidia) and whose value is not JSON null.
 * key: the name, key_len bytes (borrowed; must outlive t; NUL-terminated
 * after its first min(key_len, GQ_ADMISSION_MAX_RES_NAME) bytes). qty: the
 * value's text when it is a JSON string or number (the number's literal
 * text), NULL for any other type. where: the container's resources in
 * messages ("spec.containers[0].resources"). Rules: a name over
 * GQ_ADMISSION_MAX_RES_NAME, a value that is not a quantity or is negative
 * is GQ_EINVAL (a quantity out of range GQ_ERANGE); fractions round up to
 * whole devices; a request sets the count, a limit only fills a resource
 * with no request; past GQ_ADMISSION_MAX_RESOURCES resources GQ_EINVAL.
 */
int gq_adm_res_member(struct gq_adm_cres_table *t, const char *key, size_t key_len, const char *qty,
		      bool is_request, const char *where, struct gq_err *err);

/*
 * Folds one container's demand t into acc with the cost model's
 * effective-request rule (gq_cost_acc_add) for a container of that kind.
 * The names stay borrowed from t's. GQ_EINVAL past
 * GQ_ADMISSION_MAX_RESOURCES resources in the pod, GQ_ERANGE when a sum
 * overflows (where names the container).
 */
int gq_adm_fold_cres(struct gq_adm_acc_table *acc, const struct gq_adm_cres_table *t,
		     enum gq_cost_kind kind, const char *where, struct gq_err *err);

/*
 * Sets out->gpus and out->n_gpus to the pod's effective requests in acc:
 * positive counts only, sorted by name. The array and its strings are new,
 * owned by out (gq_adm_request_free); out->gpus is never NULL afterwards.
 */
void gq_adm_gpus_from_acc(struct gq_adm_request *out, const struct gq_adm_acc_table *acc);

#endif
