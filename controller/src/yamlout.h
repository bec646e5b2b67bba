/*
 * yamlout.h - writes yajl trees as YAML documents (libyaml emitter), for
 * human-facing output such as `gpuquota-controller render`.
 */
#ifndef GQ_YAMLOUT_H
#define GQ_YAMLOUT_H

#include <stdio.h>

#include <yajl/yajl_tree.h>

/* Writes v as one YAML document ("---" first) to f. Returns GQ_OK or GQ_EIO. */
int gq_yamlout_write(FILE *f, yajl_val v);

#endif
