/*
 * calls_pushd.h - the push delivery thread.
 *
 * The handler thread decides what to push (calls_push.c) and hands each push
 * here as a job (calls_push_provider.h); it never waits for a provider. One
 * thread owns a libcurl multi handle and every transfer: HTTP/1.1 to the
 * webhook and FCM, HTTP/2 to APNs with all pushes multiplexed on one
 * connection. A slow or dead endpoint only fills this thread's queues.
 *
 * Per job: at most push_retries retries, with exponential backoff (and the
 * provider's Retry-After), never past the job's expires_at. A registration a
 * provider calls dead (APNs 410, FCM UNREGISTERED, webhook 410) is deleted
 * through the store. Pushes of one call to one device leave in order, and an
 * incoming_call that has not left yet when that call's call_ended comes is
 * dropped: a phone must not start ringing for a call that is over.
 */
#ifndef CALLS_PUSHD_H
#define CALLS_PUSHD_H

#include <glib.h>
#include <jansson.h>

#include "calls_config.h"

/* Loads the providers' credentials (a bad key file is an error with why
 * set, g_free) and starts the thread. With no provider configured nothing
 * starts and 0 is returned. */
int calls_pushd_start(const calls_config *cfg, char **why);
/* Gives queued pushes up to push.timeout_ms (at most 5 s) to leave, then
 * stops; what is left is counted as failed. */
void calls_pushd_stop(void);

/* Any thread; takes job. */
void calls_pushd_submit(json_t *job);

/* For stats. */
guint calls_pushd_sent(void);
guint calls_pushd_failed(void);
guint calls_pushd_pending(void);

#endif
