/*
 * fuzz_request.c - libFuzzer target for everything a client sends: the input
 * is a request script (script.h). Group calls run on the unit tests' SDP
 * stubs (janus_stubs.c); fuzz_sdp.c puts Janus's own SDP code under them.
 */
#include <stddef.h>

#include "script.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
	fuzz_script_run((const char *)data, size, NULL);
	return 0;
}
