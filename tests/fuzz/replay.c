/*
 * replay.c - runs a fuzz target over every file of its corpus once, as a
 * plain test (TAP), so that make check keeps the corpus passing without a
 * fuzzing toolchain. The corpus folder is CORPUS_DIR (set at build time) or
 * the first argument.
 */
#include <stdio.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int main(int argc, char **argv) {
	const char *dir = CORPUS_DIR;
	for(int i = 1; i < argc; i++)
		if(argv[i][0] != '-')
			dir = argv[i];
	if(dir == NULL) {
		printf("1..0 # SKIP no corpus given\n");
		return 0;
	}
	GDir *d = g_dir_open(dir, 0, NULL);
	if(d == NULL) {
		printf("Bail out! cannot open %s\n", dir);
		return 1;
	}
	GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
	const char *name;
	while((name = g_dir_read_name(d)) != NULL)
		g_ptr_array_add(files, g_build_filename(dir, name, NULL));
	g_dir_close(d);
	printf("1..%u\n", files->len);
	for(guint i = 0; i < files->len; i++) {
		gchar *data = NULL;
		gsize len = 0;
		const char *path = g_ptr_array_index(files, i);
		if(!g_file_get_contents(path, &data, &len, NULL)) {
			printf("not ok %u %s (unreadable)\n", i + 1, path);
			continue;
		}
		LLVMFuzzerTestOneInput((const unsigned char *)data, len);
		char *base = g_path_get_basename(path);
		printf("ok %u %s\n", i + 1, base);
		g_free(base);
		g_free(data);
	}
	g_ptr_array_free(files, TRUE);
	return 0;
}
