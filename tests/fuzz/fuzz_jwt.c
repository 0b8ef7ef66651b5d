/*
 * fuzz_jwt.c - libFuzzer target for JWT verification: any bytes as a token.
 * The first byte picks whether the input is signed first (so that the
 * payload parser, behind the signature check, is reached too).
 */
#include <string.h>

#include "calls_auth.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
	if(size < 1)
		return 0;
	char *text = g_strndup((const char *)data + 1, size - 1);
	calls_jwt_claims claims;
	const char *why = NULL;
	if(data[0] & 1) {
		/* Treat the rest as a claims object and sign it: exercises the
		 * claim checks on arbitrary JSON. */
		json_t *claims_json = json_loads(text, 0, NULL);
		if(claims_json != NULL) {
			char *token = calls_jwt_sign(claims_json, "k");
			if(calls_jwt_verify(token, "k", 1700000000, &claims, &why) == 0)
				calls_jwt_claims_clear(&claims);
			g_free(token);
			json_decref(claims_json);
		}
	} else if(calls_jwt_verify(text, "k", 1700000000, &claims, &why) == 0) {
		calls_jwt_claims_clear(&claims);
	}
	g_free(text);
	return 0;
}
