/*
 * api.h - the names gpuquota shares with the cluster, in one place: its
 * API group and resource, the labels, finalizers and scheduling gate it
 * puts on objects, its field manager, and the NVIDIA names it reads.
 * Changing one of these changes what users and existing objects see.
 */
#ifndef GQ_API_H
#define GQ_API_H

/* The GPUTeamAllocation API. */
#define GQ_API_GROUP   "gpuquota.io"
#define GQ_API_VERSION "gpuquota.io/v1alpha1"
#define GQ_KIND	       "GPUTeamAllocation"
#define GQ_PLURAL      "gputeamallocations"
#define GQ_GTA_PATH    "/apis/" GQ_API_GROUP "/v1alpha1/" GQ_PLURAL

/* Server-side apply field manager, and the component of Events. */
#define GQ_FIELD_MANAGER "gpuquota"
#define GQ_COMPONENT	 "gpuquota-controller"

/* Labels: the team a namespace or object belongs to; managed objects. */
#define GQ_LABEL_TEAM	    "gpuquota.io/team"
#define GQ_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"

/* Finalizers: an allocation's namespaces released before it goes; a GPU
 * pod's usage persisted in the ledger before it goes. */
#define GQ_FINALIZER		"gpuquota.io/cleanup"
#define GQ_ACCOUNTING_FINALIZER "gpuquota.io/accounting"

/* The scheduling gate that holds GPU pods of a team over budget (Hold). */
#define GQ_BUDGET_GATE "gpuquota.io/budget"

/* NVIDIA's names: extended resources and the time-slicing replicas label. */
#define GQ_NVIDIA_PREFIX      "nvidia.com/"
#define GQ_NVIDIA_GPU	      "nvidia.com/gpu"
#define GQ_NVIDIA_MIG_PREFIX  "nvidia.com/mig-"
#define GQ_LABEL_GPU_REPLICAS "nvidia.com/gpu.replicas"

/* The PriorityClass API the tiers are made of. */
#define GQ_PRIORITY_CLASS_PATH "/apis/scheduling.k8s.io/v1/priorityclasses"
/* The DRA ResourceSlices (spec.sharing leaves the nodes they publish alone). */
#define GQ_RESOURCE_SLICE_PATH "/apis/resource.k8s.io/v1/resourceslices"

#endif /* GQ_API_H */
