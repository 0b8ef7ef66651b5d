/*
 * calls_admin.h - the plugin's Admin API (Janus message_plugin).
 *
 * Runs on Janus's admin thread: it reads state under the state lock and
 * queues changes (end_call, kick) to the handler thread, so the reply never
 * waits for signalling work.
 */
#ifndef CALLS_ADMIN_H
#define CALLS_ADMIN_H

#include <jansson.h>

#include "calls_config.h"

void calls_admin_init(const calls_config *cfg);
json_t *calls_admin_handle(json_t *message);

#endif
