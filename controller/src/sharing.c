/*
 * sharing.c - the pool reconfiguration state machine (see sharing.h).
 */
#include "sharing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gq.h"
#include "json.h"
#include "jsonw.h"
#include "rfc3339.h"

/* See sharing.h. */
void gq_share_taints_free(struct gq_share_node *n)
{
	for (size_t i = 0; i < n->n_taints; i++) {
		free(n->taints[i].key);
		free(n->taints[i].value);
		free(n->taints[i].effect);
		free(n->taints[i].time_added);
	}
	free(n->taints);
	n->taints = NULL;
	n->n_taints = 0;
}

/* See sharing.h. */
void gq_share_node_free(struct gq_share_node *n)
{
	free(n->name);
	for (size_t i = 0; i < n->labels.n; i++) {
		free(n->labels.items[i].key);
		free(n->labels.items[i].value);
	}
	free(n->labels.items);
	free(n->step);
	gq_share_taints_free(n);
	free(n->resource_version);
	for (size_t i = 0; i < n->n_gpu_pods; i++)
		free(n->gpu_pods[i]);
	free(n->gpu_pods);
	for (size_t i = 0; i < n->n_mig_profiles; i++)
		free(n->mig_profiles[i]);
	free(n->mig_profiles);
	memset(n, 0, sizeof(*n));
}

/* See sharing.h. */
const char *gq_share_label(const struct gq_share_node *n, const char *key)
{
	for (size_t i = 0; i < n->labels.n; i++)
		if (strcmp(n->labels.items[i].key, key) == 0)
			return n->labels.items[i].value;
	return NULL;
}

/* See sharing.h. */
const char *gq_share_pool_taint(const struct gq_share_node *n)
{
	for (size_t i = 0; i < n->n_taints; i++) {
		const struct gq_share_taint *t = &n->taints[i];

		if (t->key && strcmp(t->key, GQ_TAINT_POOL) == 0 && t->effect &&
		    strcmp(t->effect, "NoSchedule") == 0)
			return t->value ? t->value : "";
	}
	return NULL;
}

/* See sharing.h. */
const char *gq_share_slice_node(yajl_val slice)
{
	yajl_val spec = gq_json_get(slice, "spec");
	const char *driver = gq_json_str(spec, GQ_PATH("driver"));
	const char *node = gq_json_str(spec, GQ_PATH("nodeName"));

	if (driver == NULL || strcmp(driver, GQ_DRA_DRIVER_GPU) != 0 || node == NULL ||
	    node[0] == '\0')
		return NULL;
	return node;
}

/* See sharing.h. */
bool gq_share_needs_pods(const struct gq_share_node *n)
{
	return n->step != NULL && strcmp(n->step, "draining") == 0;
}

/* See sharing.h. */
const char *gq_share_phase_name(enum gq_share_phase p)
{
	static const char *const names[] = {"Ready",	"Queued", "Draining", "Evicting",
					    "Applying", "Failed", "Conflict", "Unmanaged"};

	return (size_t)p < GQ_ARRAY_LEN(names) ? names[p] : "Unknown";
}

/* See sharing.h. */
bool gq_share_selects(const struct gq_sharing *s, const struct gq_share_node *n)
{
	return s != NULL && s->present && gq_selector_matches(&s->node_selector, &n->labels);
}

static bool str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* ------------------------------------------------------------- patches */

/* One node patch being built: label and annotation changes, cordon. */
struct patch_build {
	const char *lk[8], *lv[8]; /* lv NULL: remove */
	size_t nl;
	const char *ak[8], *av[8];
	size_t na;
	int unschedulable; /* -1: leave, 0: clear, 1: set */
	const char *taint; /* the pool taint's value to set; NULL: see untaint */
	bool untaint;	   /* remove the pool taint */
};

static void pb_label(struct patch_build *b, const char *k, const char *v)
{
	if (b->nl < GQ_ARRAY_LEN(b->lk)) {
		b->lk[b->nl] = k;
		b->lv[b->nl++] = v;
	}
}

static void pb_ann(struct patch_build *b, const char *k, const char *v)
{
	if (b->na < GQ_ARRAY_LEN(b->ak)) {
		b->ak[b->na] = k;
		b->av[b->na++] = v;
	}
}

/* One string-or-null map of a patch. */
static void pb_map(struct gq_jw *w, const char *name, const char *const *k, const char *const *v,
		   size_t n)
{
	if (n == 0)
		return;
	gq_jw_str(w, name);
	gq_jw_map_open(w);
	for (size_t i = 0; i < n; i++) {
		gq_jw_str(w, k[i]);
		if (v[i])
			gq_jw_str(w, v[i]);
		else
			gq_jw_null(w);
	}
	gq_jw_map_close(w);
}

/* An optional string member of a taint. */
static void pb_taint_kv(struct gq_jw *w, const char *k, const char *v)
{
	if (v != NULL)
		gq_jw_kv(w, k, v);
}

/* spec.taints of node n with b's change to the pool taint: every other
 * taint kept as observed, in order, ours last. A merge patch replaces the
 * whole list, so the patch also carries n's resourceVersion (pb_emit). */
static void pb_taints(struct gq_jw *w, const struct gq_share_node *n, const struct patch_build *b)
{
	gq_jw_str(w, "taints");
	gq_jw_array_open(w);
	for (size_t i = 0; i < n->n_taints; i++) {
		const struct gq_share_taint *t = &n->taints[i];

		if (t->key && strcmp(t->key, GQ_TAINT_POOL) == 0)
			continue;
		gq_jw_map_open(w);
		pb_taint_kv(w, "key", t->key);
		pb_taint_kv(w, "value", t->value);
		pb_taint_kv(w, "effect", t->effect);
		pb_taint_kv(w, "timeAdded", t->time_added);
		gq_jw_map_close(w);
	}
	if (b->taint) {
		gq_jw_map_open(w);
		gq_jw_kv(w, "key", GQ_TAINT_POOL);
		gq_jw_kv(w, "value", b->taint);
		gq_jw_kv(w, "effect", "NoSchedule");
		gq_jw_map_close(w);
	}
	gq_jw_array_close(w);
}

/* Appends b as a merge patch of node n to out, with its Event (reason may
 * be NULL; message is taken). Nothing when b changes nothing. */
static void pb_emit(struct gq_share_plan *out, const struct gq_share_node *n,
		    const struct patch_build *b, const char *reason, bool warning, char *message)
{
	struct gq_jw jw, *w = &jw;
	struct gq_share_patch *p;
	bool taints = b->taint != NULL || b->untaint;

	if (b->nl == 0 && b->na == 0 && b->unschedulable < 0 && !taints) {
		free(message);
		return;
	}
	gq_jw_init_tree(w);
	gq_jw_map_open(w);
	gq_jw_str(w, "metadata");
	gq_jw_map_open(w);
	if (taints && n->resource_version)
		gq_jw_kv(w, "resourceVersion", n->resource_version);
	pb_map(w, "labels", b->lk, b->lv, b->nl);
	pb_map(w, "annotations", b->ak, b->av, b->na);
	gq_jw_map_close(w);
	if (b->unschedulable >= 0 || taints) {
		gq_jw_str(w, "spec");
		gq_jw_map_open(w);
		if (b->unschedulable >= 0) {
			gq_jw_str(w, "unschedulable");
			if (b->unschedulable)
				gq_jw_bool(w, true);
			else
				gq_jw_null(w);
		}
		if (taints)
			pb_taints(w, n, b);
		gq_jw_map_close(w);
	}
	gq_jw_map_close(w);
	out->patches = gq_realloc(out->patches, (out->n_patches + 1) * sizeof(*out->patches));
	p = &out->patches[out->n_patches++];
	*p = (struct gq_share_patch){gq_strdup(n->name), gq_jw_finish_tree(w),
				     reason ? gq_strdup(reason) : NULL, message, warning};
}

/* The changes that return node n to idle: our step annotations dropped,
 * uncordoned when we cordoned it. */
static void pb_idle(struct patch_build *b, const struct gq_share_node *n)
{
	if (n->step)
		pb_ann(b, GQ_ANN_SHARE_STEP, NULL);
	if (n->since_ms)
		pb_ann(b, GQ_ANN_SHARE_SINCE, NULL);
	if (n->attempts)
		pb_ann(b, GQ_ANN_SHARE_ATTEMPTS, NULL);
	if (n->we_cordoned) {
		pb_ann(b, GQ_ANN_SHARE_CORDONED, NULL);
		b->unschedulable = 0;
	}
}

/* ------------------------------------------------------------- nodes */

/* The per-node context of one plan. */
struct node_ctx {
	const struct gq_share_in *in;
	struct gq_share_plan *out;
	const struct gq_share_node *n;
	struct gq_share_status *st;
	struct patch_build b;
	const char *reason; /* the Event of this node's patch, or NULL */
	bool warning;
	char *event;
	char since[GQ_RFC3339_STRLEN];
	char attempts[16];
};

/* Sets the Event of c's patch (message taken). */
static void ctx_event(struct node_ctx *c, const char *reason, bool warning, char *message)
{
	free(c->event);
	c->reason = reason;
	c->warning = warning;
	c->event = message;
}

/* Starts the drain of an idle node: cordon (unless someone else has), step
 * draining since now. */
static void node_begin(struct node_ctx *c, const char *desired)
{
	const struct gq_share_node *n = c->n;

	pb_ann(&c->b, GQ_ANN_SHARE_STEP, "draining");
	pb_ann(&c->b, GQ_ANN_SHARE_SINCE, c->since);
	if (!n->unschedulable) {
		pb_ann(&c->b, GQ_ANN_SHARE_CORDONED, "true");
		c->b.unschedulable = 1;
	}
	c->st->phase = GQ_SHARE_DRAINING;
	c->st->message = gq_asprintf("cordoned for MIG layout %s; waiting for its GPU pods to end",
				     desired);
	ctx_event(c, "Draining", false,
		  gq_asprintf("node %s cordoned for MIG layout %s (was %s)", n->name, desired,
			      c->st->observed ? c->st->observed : "unset"));
}

/* A draining node: waits for its GPU pods, evicts them after the drain
 * timeout when allowed, then sets the layout label. */
static void node_draining(struct node_ctx *c, const char *desired)
{
	const struct gq_share_node *n = c->n;
	const struct gq_sharing *s = c->in->spec;
	int64_t waited = c->in->now_ms - n->since_ms;

	if (n->n_gpu_pods == 0) {
		pb_label(&c->b, GQ_LABEL_MIG_CONFIG, desired);
		pb_label(&c->b, GQ_LABEL_MIG_STATE, NULL);
		pb_ann(&c->b, GQ_ANN_SHARE_STEP, "pending");
		pb_ann(&c->b, GQ_ANN_SHARE_SINCE, c->since);
		c->st->phase = GQ_SHARE_APPLYING;
		c->st->message = gq_asprintf("no GPU pod left; MIG layout %s requested", desired);
		ctx_event(c, "Reconfiguring", false,
			gq_asprintf("node %s drained: MIG layout %s requested", n->name, desired));
		return;
	}
	if (n->since_ms == 0 || waited < s->drain_timeout_ms) {
		c->st->phase = GQ_SHARE_DRAINING;
		c->st->message = gq_asprintf("cordoned; waiting for %zu GPU pod(s) to end (drain "
					     "timeout in %llds)",
					     n->n_gpu_pods,
					     (long long)((s->drain_timeout_ms - waited) / 1000));
		return;
	}
	if (!s->evict) {
		c->st->phase = GQ_SHARE_DRAINING;
		c->st->message = gq_asprintf("drain timeout passed; waiting for %zu GPU pod(s) to "
					     "end (evict is false)",
					     n->n_gpu_pods);
		return;
	}
	c->st->phase = GQ_SHARE_EVICTING;
	c->st->message = gq_asprintf("drain timeout passed; evicting %zu GPU pod(s)", n->n_gpu_pods);
	for (size_t i = 0; i < n->n_gpu_pods; i++) {
		c->out->evict = gq_realloc(c->out->evict, (c->out->n_evict + 1) * sizeof(char *));
		c->out->evict[c->out->n_evict++] = gq_strdup(n->gpu_pods[i]);
	}
}

/* A node whose layout label is set: follows mig.config.state. */
static void node_pending(struct node_ctx *c, const char *desired)
{
	const struct gq_share_node *n = c->n;
	const char *state = gq_share_label(n, GQ_LABEL_MIG_STATE);

	if (str_eq(state, "success")) {
		pb_idle(&c->b, n);
		c->st->phase = GQ_SHARE_READY;
		ctx_event(c, "Reconfigured", false,
			gq_asprintf("node %s has MIG layout %s%s", n->name, desired,
				    n->we_cordoned ? "; uncordoned" : ""));
		return;
	}
	if (str_eq(state, "failed")) {
		pb_ann(&c->b, GQ_ANN_SHARE_STEP, "failed");
		c->st->phase = GQ_SHARE_FAILED;
		c->st->message = gq_asprintf("the MIG manager failed to apply %s; the node stays "
					     "cordoned",
					     desired);
		ctx_event(c, "ReconfigureFailed", true,
			gq_asprintf("node %s: the MIG manager failed to apply layout %s", n->name,
				    desired));
		return;
	}
	if (n->since_ms != 0 && c->in->now_ms - n->since_ms >= c->in->pending_timeout_ms) {
		if (n->attempts + 1 >= GQ_SHARE_MAX_ATTEMPTS) {
			pb_ann(&c->b, GQ_ANN_SHARE_STEP, "failed");
			c->st->phase = GQ_SHARE_FAILED;
			c->st->message = gq_asprintf("MIG layout %s still %s after %d attempts",
						     desired, state ? state : "not started",
						     n->attempts + 1);
			ctx_event(c, "ReconfigureFailed", true,
				gq_strdup(c->st->message));
			return;
		}
		/* NVIDIA's recovery for a stuck pending: apply the label again. */
		snprintf(c->attempts, sizeof(c->attempts), "%d", n->attempts + 1);
		pb_label(&c->b, GQ_LABEL_MIG_CONFIG, NULL);
		pb_ann(&c->b, GQ_ANN_SHARE_STEP, "reapply");
		pb_ann(&c->b, GQ_ANN_SHARE_ATTEMPTS, c->attempts);
		c->st->phase = GQ_SHARE_APPLYING;
		c->st->message = gq_asprintf("MIG layout %s stuck %s; applying it again", desired,
					     state ? state : "not started");
		ctx_event(c, "ReconfigureRetry", true,
			gq_asprintf("node %s: %s", n->name, c->st->message));
		return;
	}
	c->st->phase = GQ_SHARE_APPLYING;
	c->st->message = gq_asprintf("waiting for the MIG manager to apply %s (state %s)", desired,
				     state ? state : "not started");
}

/* The MIG part of one managed, selected node. *slots: how many more nodes
 * may leave idle. */
static void node_mig(struct node_ctx *c, const char *desired, int *slots)
{
	const struct gq_share_node *n = c->n;
	const char *step = n->step;

	if (step && strcmp(step, "reapply") == 0) {
		pb_label(&c->b, GQ_LABEL_MIG_CONFIG, desired);
		pb_label(&c->b, GQ_LABEL_MIG_STATE, NULL);
		pb_ann(&c->b, GQ_ANN_SHARE_STEP, "pending");
		pb_ann(&c->b, GQ_ANN_SHARE_SINCE, c->since);
		c->st->phase = GQ_SHARE_APPLYING;
		c->st->message = gq_asprintf("MIG layout %s requested again", desired);
	} else if (step && (strcmp(step, "pending") == 0 || strcmp(step, "failed") == 0) &&
		   !str_eq(c->st->observed, desired)) {
		/* The spec changed under way: drain again for the new layout. */
		pb_ann(&c->b, GQ_ANN_SHARE_STEP, "draining");
		pb_ann(&c->b, GQ_ANN_SHARE_SINCE, c->since);
		c->st->phase = GQ_SHARE_DRAINING;
		c->st->message = gq_asprintf("layout changed to %s; draining again", desired);
	} else if (step && strcmp(step, "pending") == 0) {
		node_pending(c, desired);
	} else if (step && strcmp(step, "failed") == 0) {
		if (str_eq(gq_share_label(n, GQ_LABEL_MIG_STATE), "success")) {
			node_pending(c, desired);
		} else {
			c->st->phase = GQ_SHARE_FAILED;
			c->st->message = gq_asprintf("the MIG manager failed to apply %s; the node "
						     "stays cordoned until the layout changes",
						     desired);
		}
	} else if (step && strcmp(step, "draining") == 0) {
		node_draining(c, desired);
	} else if (str_eq(c->st->observed, desired)) {
		const char *state = gq_share_label(n, GQ_LABEL_MIG_STATE);

		c->st->phase = str_eq(state, "failed")	   ? GQ_SHARE_FAILED
			       : str_eq(state, "success") ? GQ_SHARE_READY
							  : GQ_SHARE_APPLYING;
		if (c->st->phase != GQ_SHARE_READY)
			c->st->message = gq_asprintf("MIG layout %s is %s", desired,
						     state ? state : "not reported");
		pb_idle(&c->b, n);
	} else if (*slots <= 0) {
		c->st->phase = GQ_SHARE_QUEUED;
		c->st->message = gq_asprintf("waits for MIG layout %s: maxUnavailable nodes are "
					     "reconfiguring",
					     desired);
	} else {
		(*slots)--;
		node_begin(c, desired);
	}
}

/* Whether node n is selected by an allocation other than in->team. */
static const char *other_owner(const struct gq_share_in *in, const struct gq_share_node *n)
{
	for (size_t i = 0; i < in->n_teams; i++) {
		const struct gq_team *t = &in->teams[i];

		if (strcmp(t->name, in->team) != 0 && !t->deleting &&
		    gq_share_selects(&t->sharing, n))
			return t->name;
	}
	return NULL;
}

/* The plan for one selected node (not conflicting, not DRA). */
static void node_selected(struct node_ctx *c, int *slots)
{
	const struct gq_share_node *n = c->n;
	const struct gq_sharing *s = c->in->spec;
	const char *dp = gq_share_label(n, GQ_LABEL_DP_CONFIG);

	if (!str_eq(gq_share_label(n, GQ_LABEL_POOL), c->in->team))
		pb_label(&c->b, GQ_LABEL_POOL, c->in->team);
	if (!str_eq(gq_share_pool_taint(n), c->in->team))
		c->b.taint = c->in->team;
	if (s->device_plugin_config && s->device_plugin_config[0] &&
	    !str_eq(dp, s->device_plugin_config)) {
		pb_label(&c->b, GQ_LABEL_DP_CONFIG, s->device_plugin_config);
		pb_ann(&c->b, GQ_ANN_SHARE_DP, "true");
	} else if (s->device_plugin_config && !s->device_plugin_config[0] && dp && n->dp_ours) {
		pb_label(&c->b, GQ_LABEL_DP_CONFIG, NULL);
		pb_ann(&c->b, GQ_ANN_SHARE_DP, NULL);
	}
	c->st->phase = GQ_SHARE_READY;
	if (s->mig_config)
		node_mig(c, s->mig_config, slots);
	else
		pb_idle(&c->b, n);
	if (c->event == NULL)
		c->event = gq_asprintf("node %s: pool labels of %s updated", n->name, c->in->team);
	pb_emit(c->out, n, &c->b, c->reason, c->warning, c->event);
	c->event = NULL;
}

/* Releases node n of our pool: our labels and annotations removed, the
 * device plugin label when we set it, uncordoned when we cordoned it; the
 * MIG layout label stays. */
static void node_release(struct gq_share_plan *out, const struct gq_share_node *n)
{
	struct patch_build b = {.unschedulable = -1};

	pb_label(&b, GQ_LABEL_POOL, NULL);
	b.untaint = gq_share_pool_taint(n) != NULL;
	if (n->dp_ours) {
		pb_label(&b, GQ_LABEL_DP_CONFIG, NULL);
		pb_ann(&b, GQ_ANN_SHARE_DP, NULL);
	}
	pb_idle(&b, n);
	pb_emit(out, n, &b, "PoolReleased", false,
		gq_asprintf("node %s left the pool%s", n->name,
			    n->we_cordoned ? "; uncordoned" : ""));
}

/* Whether node n is out of idle by our doing (it takes a slot). */
static bool busy(const struct gq_share_node *n)
{
	return n->step != NULL;
}

/* SharingReady from the nodes' phases. */
static void plan_summary(struct gq_share_plan *out, const struct gq_share_in *in)
{
	struct gq_buf buf;
	size_t n_ready = 0;
	const struct gq_share_status *worst = NULL;

	gq_buf_init(&buf, 4096);
	for (size_t i = 0; i < out->n_nodes; i++) {
		const struct gq_share_status *s = &out->nodes[i];

		if (s->phase == GQ_SHARE_READY || s->phase == GQ_SHARE_UNMANAGED)
			n_ready += s->phase == GQ_SHARE_READY;
		else if (worst == NULL || s->phase == GQ_SHARE_FAILED ||
			 (s->phase == GQ_SHARE_CONFLICT && worst->phase != GQ_SHARE_FAILED))
			worst = s;
		if (s->phase == GQ_SHARE_CONFLICT)
			out->conflict = true;
	}
	if (worst == NULL) {
		gq_buf_free(&buf);
		out->ready = true;
		out->reason = "Applied";
		out->message = gq_asprintf("%zu pool node(s) ready%s%s", n_ready,
					   in->spec->mig_config ? " with MIG layout " : "",
					   in->spec->mig_config ? in->spec->mig_config : "");
		return;
	}
	out->reason = worst->phase == GQ_SHARE_FAILED	  ? "ReconfigureFailed"
		      : worst->phase == GQ_SHARE_CONFLICT ? "Conflict"
							  : "Reconfiguring";
	gq_buf_printf(&buf, "node %s: %s", worst->name, gq_share_phase_name(worst->phase));
	if (worst->message)
		gq_buf_printf(&buf, " (%s)", worst->message);
	gq_buf_printf(&buf, "; %zu of %zu pool node(s) ready", n_ready, out->n_nodes);
	out->message = gq_buf_steal(&buf);
	if (worst->phase != GQ_SHARE_CONFLICT && worst->phase != GQ_SHARE_FAILED)
		out->requeue_ms = 2000;
}

/* Once every pool node is settled: the granted MIG profiles that no node
 * of the pool offers (its layout yields none) into out->degraded_msg. */
static void plan_profiles(struct gq_share_plan *out, const struct gq_share_in *in)
{
	struct gq_buf buf;

	if (in->mig_slices == NULL || !out->ready)
		return;
	gq_buf_init(&buf, 4096);
	for (size_t i = 0; i < in->mig_slices->n; i++) {
		const struct gq_res *r = &in->mig_slices->items[i];
		bool offered = false;

		if (gq_quantity_is_zero(&r->q))
			continue;
		for (size_t j = 0; j < in->n_nodes && !offered; j++) {
			const struct gq_share_node *n = &in->nodes[j];

			if (n->dra || !gq_share_selects(in->spec, n))
				continue;
			for (size_t k = 0; k < n->n_mig_profiles && !offered; k++)
				offered = strcmp(n->mig_profiles[k], r->name) == 0;
		}
		if (!offered)
			gq_buf_printf(&buf, "%sspec.quota.migSlices grants %s but no node of the "
					    "pool offers nvidia.com/mig-%s",
				      buf.len ? "; " : "", r->name, r->name);
	}
	if (buf.len)
		out->degraded_msg = gq_buf_steal(&buf);
	else
		gq_buf_free(&buf);
}

/* Whether the node named name of in offers whole GPUs. */
static bool node_whole_gpus(const struct gq_share_in *in, const char *name)
{
	for (size_t i = 0; i < in->n_nodes; i++)
		if (strcmp(in->nodes[i].name, name) == 0)
			return in->nodes[i].whole_gpus;
	return false;
}

/* One pool node: conflict, DRA or selected. */
static void plan_node(struct gq_share_plan *out, const struct gq_share_in *in,
		      const struct gq_share_node *n, int *slots)
{
	struct gq_share_status *st;
	struct node_ctx c;
	const char *other;

	if (out->n_nodes >= GQ_SHARE_MAX_STATUS_NODES)
		return;
	st = &out->nodes[out->n_nodes++];
	*st = (struct gq_share_status){n->name, in->spec->mig_config,
				       gq_share_label(n, GQ_LABEL_MIG_CONFIG),
				       gq_share_label(n, GQ_LABEL_MIG_STATE), GQ_SHARE_READY,
				       NULL, false};
	if (n->dra) {
		st->phase = GQ_SHARE_UNMANAGED;
		st->dra = true;
		st->message = gq_strdup("GPUs published through DRA: left alone");
		return;
	}
	if ((other = other_owner(in, n)) != NULL) {
		st->phase = GQ_SHARE_CONFLICT;
		st->message = gq_asprintf("also selected by GPUTeamAllocation %s: left untouched",
					  other);
		if (out->conflict_msg == NULL)
			out->conflict_msg =
			    gq_asprintf("node %s is selected by the sharing of GPUTeamAllocation "
					"%s too; left untouched",
					n->name, other);
		return;
	}
	c = (struct node_ctx){in, out, n, st, {.unschedulable = -1}, NULL, false, NULL, "", ""};
	if (gq_rfc3339_format_ms(in->now_ms, c.since) != GQ_OK)
		snprintf(c.since, sizeof(c.since), "1970-01-01T00:00:00Z");
	node_selected(&c, slots);
}

/* See sharing.h. */
void gq_share_plan(struct gq_share_plan *out, const struct gq_share_in *in)
{
	bool active = in->spec != NULL && in->spec->present;
	int slots = active ? in->spec->max_unavailable : 0;

	memset(out, 0, sizeof(*out));
	out->active = active;
	if (slots < 1)
		slots = 1;
	/* Slots held by nodes already under way (ours, selected). */
	for (size_t i = 0; active && i < in->n_nodes; i++)
		if (busy(&in->nodes[i]) && gq_share_selects(in->spec, &in->nodes[i]) &&
		    str_eq(gq_share_label(&in->nodes[i], GQ_LABEL_POOL), in->team))
			slots--;
	out->nodes = gq_calloc(GQ_SHARE_MAX_STATUS_NODES, sizeof(*out->nodes));
	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct gq_share_node *n = &in->nodes[i];
		bool ours = str_eq(gq_share_label(n, GQ_LABEL_POOL), in->team);
		bool selected = active && gq_share_selects(in->spec, n);

		if (selected) {
			int before = slots;

			plan_node(out, in, n, &slots);
			/* A node already under way keeps the slot it holds. */
			if (busy(n) && ours)
				slots = before;
		} else if (ours && !n->dra) {
			node_release(out, n);
		}
	}
	for (size_t i = 0; active && i < out->n_nodes; i++)
		out->whole_gpus |= out->nodes[i].phase == GQ_SHARE_READY &&
				   node_whole_gpus(in, out->nodes[i].name);
	if (active) {
		plan_summary(out, in);
		if (out->n_nodes > 0)
			plan_profiles(out, in);
	}
}

/* See sharing.h. */
void gq_share_plan_free(struct gq_share_plan *p)
{
	for (size_t i = 0; i < p->n_nodes; i++)
		free(p->nodes[i].message);
	free(p->nodes);
	for (size_t i = 0; i < p->n_patches; i++) {
		free(p->patches[i].node);
		yajl_tree_free(p->patches[i].body);
		free(p->patches[i].reason);
		free(p->patches[i].message);
	}
	free(p->patches);
	for (size_t i = 0; i < p->n_evict; i++)
		free(p->evict[i]);
	free(p->evict);
	free(p->message);
	free(p->conflict_msg);
	free(p->degraded_msg);
	memset(p, 0, sizeof(*p));
}
