/*
 * standalone.c - a main() for fuzz targets without libFuzzer: replays each
 * file named on the command line (each regular file inside a named
 * directory, in name order, recursively) through LLVMFuzzerTestOneInput, so
 * that a target and its corpus run as a plain test under gcc and the
 * sanitizers. With no file arguments, replays standard input. Arguments
 * starting with '-' (libFuzzer flags) are ignored. Generic: links with any
 * target; uses only libc (plain malloc, checked), not the project's code.
 *
 * Exit status: 0 when every input ran, 1 when an input could not be read
 * (a crash in the target ends the process as usual).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Inputs larger than this are refused rather than read. */
#define STANDALONE_MAX_INPUT (64u * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t nrun;

/* Runs one input, copied into a heap block of exactly its size so that
 * ASan catches reads past its end. */
static void run_one(const unsigned char *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);

	if (copy == NULL) {
		fputs("standalone: out of memory\n", stderr);
		abort();
	}
	if (size)
		memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
	nrun++;
}

/* Reads all of f (at most STANDALONE_MAX_INPUT bytes) into a new heap block. */
static int slurp(FILE *f, const char *name, unsigned char **out, size_t *len)
{
	size_t cap = 4096, n = 0, got;
	unsigned char *p = malloc(cap), *q;

	if (p == NULL)
		goto oom;
	for (;;) {
		if (n == cap) {
			if (cap >= STANDALONE_MAX_INPUT) {
				fprintf(stderr, "standalone: %s: larger than %u bytes\n", name,
					STANDALONE_MAX_INPUT);
				free(p);
				return -1;
			}
			cap *= 2;
			q = realloc(p, cap);
			if (q == NULL)
				goto oom;
			p = q;
		}
		got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "standalone: %s: read error\n", name);
		free(p);
		return -1;
	}
	*out = p;
	*len = n;
	return 0;
oom:
	fputs("standalone: out of memory\n", stderr);
	abort();
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data;
	size_t len;
	int rc;

	if (f == NULL) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = slurp(f, path, &data, &len);
	fclose(f);
	if (rc != 0)
		return rc;
	run_one(data, len);
	free(data);
	return 0;
}

static int skip_dot(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Runs a file, or every entry of a directory in name order. */
static int run_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	char sub[4096];
	int i, n, rc = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &ents, skip_dot, alphasort);
	if (n < 0) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name) >=
		    (int)sizeof(sub)) {
			fprintf(stderr, "standalone: %s/%s: path too long\n", path,
				ents[i]->d_name);
			rc = -1;
		} else if (run_path(sub) != 0) {
			rc = -1;
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned char *data;
	size_t len;
	int i, nfiles = 0, rc = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		nfiles++;
		if (run_path(argv[i]) != 0)
			rc = 1;
	}
	if (nfiles == 0) {
		if (slurp(stdin, "<stdin>", &data, &len) != 0)
			return 1;
		run_one(data, len);
		free(data);
	}
	fprintf(stderr, "standalone: %zu input(s) replayed\n", nrun);
	return rc;
}
