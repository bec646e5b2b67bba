/*
 * log.c - leveled text/JSON logging to stderr. One write(2) per line so lines
 * from different threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "gq.h"

static enum gq_log_level log_level = GQ_LOG_INFO;
static enum gq_log_format log_format = GQ_LOG_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void gq_log_setup(enum gq_log_level level, enum gq_log_format format)
{
	log_level = level;
	log_format = format;
}

int gq_log_parse_level(enum gq_log_level *out, const char *s)
{
	for (size_t i = 0; i < GQ_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum gq_log_level)i;
			return GQ_OK;
		}
	}
	return GQ_EINVAL;
}

int gq_log_parse_format(enum gq_log_format *out, const char *s)
{
	if (strcmp(s, "text") == 0)
		*out = GQ_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = GQ_LOG_JSON;
	else
		return GQ_EINVAL;
	return GQ_OK;
}

bool gq_log_enabled(enum gq_log_level level)
{
	return level >= log_level;
}

/* Appends s as the contents of a JSON string (without quotes). */
static void log_json_escape(struct gq_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			gq_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			gq_buf_puts(b, "\\n");
		else if (c < 0x20)
			gq_buf_printf(b, "\\u%04x", c);
		else
			gq_buf_append(b, &s[i], 1);
	}
}

/* Writes key=value fields (space separated; values run to the next space
 * followed by a key=) as JSON members. */
static void log_json_fields(struct gq_buf *b, const char *f)
{
	while (*f) {
		const char *eq, *end, *next;

		while (*f == ' ')
			f++;
		eq = strchr(f, '=');
		if (eq == NULL)
			break;
		/* The value ends where the next " key=" begins. */
		end = eq + 1;
		next = NULL;
		for (const char *p = eq + 1; *p; p++) {
			if (*p == ' ') {
				const char *k = p + 1;
				while (*k && *k != ' ' && *k != '=')
					k++;
				if (*k == '=' && k > p + 1) {
					next = p + 1;
					break;
				}
			}
			end = p + 1;
		}
		gq_buf_puts(b, ",\"");
		log_json_escape(b, f, (size_t)(eq - f));
		gq_buf_puts(b, "\":\"");
		log_json_escape(b, eq + 1, (size_t)(end - eq - 1));
		gq_buf_puts(b, "\"");
		if (next == NULL)
			break;
		f = next;
	}
}

void gq_log(enum gq_log_level level, const char *fmt, ...)
{
	char msg[4096], ts[40];
	struct timespec now;
	struct tm tm;
	struct gq_buf b;
	va_list ap;
	char *fields;
	ssize_t w;

	if (level < log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	fields = strstr(msg, " | ");
	if (fields) {
		*fields = '\0';
		fields += 3;
	}
	gq_buf_init(&b, sizeof(msg) * 2 + 256);
	if (log_format == GQ_LOG_JSON) {
		gq_buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", ts,
			      now.tv_nsec / 1000000, level_names[level]);
		log_json_escape(&b, msg, strlen(msg));
		gq_buf_puts(&b, "\"");
		if (fields)
			log_json_fields(&b, fields);
		gq_buf_puts(&b, "}\n");
	} else {
		gq_buf_printf(&b, "%s.%03ldZ %-5s %s%s%s\n", ts, now.tv_nsec / 1000000,
			      level_names[level], msg, fields ? " " : "", fields ? fields : "");
	}
	w = write(STDERR_FILENO, gq_buf_str(&b), b.len);
	(void)w;
	gq_buf_free(&b);
}
