/*
 * admission_tree.h - the reference decoder of AdmissionReview bodies, for
 * the tests only (test/unit/test_admission.c, test/fuzz/fuzz_admission_diff.c):
 * an oracle for the streaming gq_admission_decode of the product.
 */
#ifndef GQ_ADMISSION_TREE_H
#define GQ_ADMISSION_TREE_H

#include <stddef.h>

#include "admission.h"
#include "gq.h"

/*
 * The same contract as gq_admission_decode (admission.h: same results, same
 * error codes and messages, the same refused GPU pod), by another path:
 * the whole body is parsed into a yajl_tree first, after its size and
 * nesting depth are checked, and the tree is walked. Slower (an allocation
 * per JSON value); the differential tests and fuzz_admission_diff check
 * that both decoders agree. Ownership: body is borrowed; on success the
 * caller owns *out (gq_adm_request_free); on error *out is zeroed but for a
 * refused GPU pod's uid, freed the same way.
 */
int gq_admission_decode_tree(struct gq_adm_request *out, const char *body, size_t len,
			     struct gq_err *err);

#endif
