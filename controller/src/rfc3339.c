/*
 * rfc3339.c - RFC 3339 timestamps in UTC milliseconds (see rfc3339.h).
 */
#include "rfc3339.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gq.h"

int gq_rfc3339_format_ms(int64_t ms, char buf[GQ_RFC3339_STRLEN])
{
	time_t secs = (time_t)gq_floor_div(ms, 1000);
	int64_t frac_ms = gq_floor_mod(ms, 1000);
	struct tm tm;
	char *p = buf;

	buf[0] = '\0';
	if (gmtime_r(&secs, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return GQ_ERANGE;
	gq_put_uint(&p, (uint64_t)(tm.tm_year + 1900), 4);
	*p++ = '-';
	gq_put_uint(&p, (uint64_t)(tm.tm_mon + 1), 2);
	*p++ = '-';
	gq_put_uint(&p, (uint64_t)tm.tm_mday, 2);
	*p++ = 'T';
	gq_put_uint(&p, (uint64_t)tm.tm_hour, 2);
	*p++ = ':';
	gq_put_uint(&p, (uint64_t)tm.tm_min, 2);
	*p++ = ':';
	gq_put_uint(&p, (uint64_t)tm.tm_sec, 2);
	if (frac_ms != 0) {
		*p++ = '.';
		gq_put_uint(&p, (uint64_t)frac_ms, 3);
	}
	*p++ = 'Z';
	*p = '\0';
	return GQ_OK;
}

/* Reads exactly n decimal digits at *s (advancing it) into *v. */
static bool digits(const char **s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		char c = (*s)[i];

		if (c < '0' || c > '9')
			return false;
		*v = *v * 10 + (c - '0');
	}
	*s += n;
	return true;
}

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z, in Unix ms. */
#define TIME_MIN_MS INT64_C(-62167219200000)
#define TIME_MAX_MS INT64_C(253402300799999)

int gq_rfc3339_parse(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, nfrac = 0, sign = 0;
	int64_t frac_ms = 0, t, off;
	struct tm tm;
	time_t secs;

	if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
	    !digits(&s, 2, &d))
		return GQ_EPARSE;
	if (*s != 'T' && *s != 't')
		return GQ_EPARSE;
	s++;
	if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
	    !digits(&s, 2, &sec))
		return GQ_EPARSE;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, nfrac++) {
			if (nfrac == 9)
				return GQ_EPARSE;
			if (nfrac < 3)
				frac_ms = frac_ms * 10 + (*s - '0');
		}
		if (nfrac == 0)
			return GQ_EPARSE;
		for (; nfrac < 3; nfrac++)
			frac_ms *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (!digits(&s, 2, &oh) || *s++ != ':' || !digits(&s, 2, &om))
			return GQ_EPARSE;
	} else {
		return GQ_EPARSE;
	}
	if (*s != '\0')
		return GQ_EPARSE;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || sec > 59 ||
	    oh > 23 || om > 59)
		return GQ_EPARSE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	secs = timegm(&tm);
	off = (int64_t)sign * (oh * 3600 + om * 60);
	/* Years 0000..9999 keep every step far inside int64. */
	t = ((int64_t)secs - off) * 1000 + frac_ms;
	/* An offset can move 0000-01-01 or 9999-12-31 out of the years that
	 * gq_rfc3339_format_ms writes: such a time could be read but not
	 * persisted again. */
	if (t < TIME_MIN_MS || t > TIME_MAX_MS)
		return GQ_EPARSE;
	*ms = t;
	return GQ_OK;
}
