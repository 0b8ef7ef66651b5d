/*
 * script.h - request scripts for the fuzz targets.
 *
 * A script is one request per line, "<device 0-3>[u|d] <json body>",
 * optionally followed by " | <json jsep>". Each goes through the same
 * dispatcher as the plugin, against the real call state machine, with the
 * clock advanced a little per line and timers fired, so that sequences of
 * requests (not only single bodies) are explored; "u" and "d" then bring the
 * device's PeerConnection up or down. "$CALL", "$LINK" and "$FEED" in a line
 * stand for the newest call id, group call link and subscriber feed, which
 * a fuzzer could not guess, and a jsep whose sdp is "$SDP" gets `sdp`.
 */
#ifndef FUZZ_SCRIPT_H
#define FUZZ_SCRIPT_H

#include <stddef.h>

void fuzz_script_run(const char *text, size_t size, const char *sdp);

#endif
