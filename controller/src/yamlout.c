/*
 * yamlout.c - yajl tree to YAML via libyaml's emitter. Strings that YAML
 * would read as another type ("true", "1", "") are quoted by the emitter's
 * plain-scalar rules only when needed; we force quoting for strings that
 * look like numbers, booleans or null so round trips keep their types.
 */
#include "yamlout.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "gq.h"

static int out_handler(void *data, unsigned char *buffer, size_t size)
{
	return fwrite(buffer, 1, size, (FILE *)data) == size;
}

/* Whether plain scalar s would be resolved as something other than a string. */
static bool looks_typed(const char *s)
{
	static const char *const words[] = {"true", "false", "True", "False", "TRUE", "FALSE",
					    "null", "Null",  "NULL", "~",     "yes",  "no",
					    "Yes",  "No",    "on",   "off",   "y",    "n"};
	char *end;

	if (*s == '\0')
		return true;
	for (size_t i = 0; i < GQ_ARRAY_LEN(words); i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	strtod(s, &end);
	return *end == '\0';
}

static int emit_scalar(yaml_emitter_t *e, const char *s, bool quote_if_typed, bool plain_ok)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

	if (!plain_ok || (quote_if_typed && looks_typed(s)))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
				     style);
	return yaml_emitter_emit(e, &ev);
}

static int emit_value(yaml_emitter_t *e, yajl_val v)
{
	yaml_event_t ev;

	if (v == NULL || YAJL_IS_NULL(v))
		return emit_scalar(e, "null", false, true);
	if (YAJL_IS_STRING(v))
		return emit_scalar(e, v->u.string, true, true);
	if (YAJL_IS_NUMBER(v))
		return emit_scalar(e, v->u.number.r, false, true);
	if (YAJL_IS_TRUE(v))
		return emit_scalar(e, "true", false, true);
	if (YAJL_IS_FALSE(v))
		return emit_scalar(e, "false", false, true);
	if (YAJL_IS_OBJECT(v)) {
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(e, &ev))
			return 0;
		for (size_t i = 0; i < v->u.object.len; i++)
			if (!emit_scalar(e, v->u.object.keys[i], true, true) ||
			    !emit_value(e, v->u.object.values[i]))
				return 0;
		yaml_mapping_end_event_initialize(&ev);
		return yaml_emitter_emit(e, &ev);
	}
	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	if (!yaml_emitter_emit(e, &ev))
		return 0;
	for (size_t i = 0; i < v->u.array.len; i++)
		if (!emit_value(e, v->u.array.values[i]))
			return 0;
	yaml_sequence_end_event_initialize(&ev);
	return yaml_emitter_emit(e, &ev);
}

int gq_yamlout_write(FILE *f, yajl_val v)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	int ok;

	if (!yaml_emitter_initialize(&e))
		return GQ_EIO;
	yaml_emitter_set_output(&e, out_handler, f);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, 100);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&e, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
	ok = ok && yaml_emitter_emit(&e, &ev);
	ok = ok && emit_value(&e, v);
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&e, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&e, &ev);
	ok = ok && yaml_emitter_flush(&e);
	yaml_emitter_delete(&e);
	return ok ? GQ_OK : GQ_EIO;
}
