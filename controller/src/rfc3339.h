/*
 * rfc3339.h - RFC 3339 date-times (the form of every Kubernetes timestamp)
 * to and from int64 milliseconds since the Unix epoch, UTC. Pure.
 */
#ifndef GQ_RFC3339_H
#define GQ_RFC3339_H

#include <stdint.h>

/* Longest output of gq_rfc3339_format_ms, with NUL. */
#define GQ_RFC3339_STRLEN 40

/*
 * Writes ms as RFC 3339 UTC: "2026-11-23T21:00:00Z", or with ".123" before
 * the Z when ms is not a whole second, into the caller's buf. Returns
 * GQ_OK, or GQ_ERANGE for years outside 0000..9999 (buf is then "").
 */
int gq_rfc3339_format_ms(int64_t ms, char buf[GQ_RFC3339_STRLEN]);

/*
 * Parses an RFC 3339 date-time ("2026-11-23T21:00:00Z",
 * "2026-11-23T22:30:00.5+01:30"): 'T' or 't', fractional seconds of 1 to 9
 * digits (truncated to milliseconds), 'Z', 'z' or a +hh:mm / -hh:mm offset.
 * Fields are range-checked (day within its month, no leap second), and the
 * instant must be one gq_rfc3339_format_ms writes (years 0000..9999 in UTC, so
 * an offset cannot move it out), into *ms. Returns GQ_OK or GQ_EPARSE.
 */
int gq_rfc3339_parse(const char *s, int64_t *ms);

#endif /* GQ_RFC3339_H */
