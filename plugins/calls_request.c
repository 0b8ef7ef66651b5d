/*
 * calls_request.c - the request table and its validation (see calls_request.h).
 */
#include <string.h>

#include <utils.h>

#include "calls_record.h"
#include "calls_request.h"


typedef enum field_kind {
	FIELD_PLAIN, FIELD_USER, FIELD_DEVICE, FIELD_CALL, FIELD_DISPLAY, FIELD_REASON,
	FIELD_LIMIT, FIELD_CURSOR, FIELD_FILTER, FIELD_CALL_LIST, FIELD_USER_LIST, FIELD_PRIVACY, FIELD_PLATFORM, FIELD_PUSH_TOKEN,
	FIELD_SECRET,
} field_kind;

typedef struct field_rule {
	struct janus_json_parameter param;
	field_kind kind;
} field_rule;

#define REQ JANUS_JSON_PARAM_REQUIRED

static const field_rule register_jwt[] = {
	/* An empty token is a bad token (401), not a malformed request. */
	{{"token", JSON_STRING, REQ}, FIELD_PLAIN},
	{{"device", JSON_STRING, 0}, FIELD_DEVICE},
};
static const field_rule register_none[] = {
	{{"user", JSON_STRING, REQ}, FIELD_USER},
	{{"display", JSON_STRING, 0}, FIELD_DISPLAY},
	{{"device", JSON_STRING, 0}, FIELD_DEVICE},
};
static const field_rule call_fields[] = {
	{{"to", JSON_STRING, REQ}, FIELD_USER},
	{{"video", JANUS_JSON_BOOL, 0}, FIELD_PLAIN},
};
static const field_rule call_id_only[] = {
	{{"call_id", JSON_STRING, REQ}, FIELD_CALL},
};
static const field_rule decline_fields[] = {
	{{"call_id", JSON_STRING, REQ}, FIELD_CALL},
	{{"reason", JSON_STRING, 0}, FIELD_REASON},
};
static const field_rule media_fields[] = {
	{{"call_id", JSON_STRING, REQ}, FIELD_CALL},
	{{"audio", JANUS_JSON_BOOL, REQ}, FIELD_PLAIN},
	{{"video", JANUS_JSON_BOOL, REQ}, FIELD_PLAIN},
};

static const field_rule history_fields[] = {
	{{"limit", JSON_INTEGER, 0}, FIELD_LIMIT},
	{{"before", JSON_STRING, 0}, FIELD_CURSOR},
	{{"filter", JSON_STRING, 0}, FIELD_FILTER},
};
static const field_rule history_delete_fields[] = {
	{{"call_ids", JSON_ARRAY, REQ}, FIELD_CALL_LIST},
};

static const field_rule user_list_fields[] = {
	{{"users", JSON_ARRAY, REQ}, FIELD_USER_LIST},
};
static const field_rule privacy_fields[] = {
	{{"last_seen", JSON_STRING, REQ}, FIELD_PRIVACY},
};

static const field_rule push_register_fields[] = {
	{{"platform", JSON_STRING, REQ}, FIELD_PLATFORM},
	{{"token", JSON_STRING, REQ}, FIELD_PUSH_TOKEN},
	{{"voip", JANUS_JSON_BOOL, 0}, FIELD_PLAIN},
};

static const field_rule group_call_fields[] = {
	{{"members", JSON_ARRAY, REQ}, FIELD_USER_LIST},
	{{"video", JANUS_JSON_BOOL, 0}, FIELD_PLAIN},
	{{"title", JSON_STRING, 0}, FIELD_DISPLAY},
};
static const field_rule join_fields[] = {
	{{"call_id", JSON_STRING, 0}, FIELD_CALL},
	{{"link", JSON_STRING, 0}, FIELD_SECRET},
};
static const field_rule invite_fields[] = {
	{{"call_id", JSON_STRING, REQ}, FIELD_CALL},
	{{"users", JSON_ARRAY, REQ}, FIELD_USER_LIST},
};
static const field_rule subscribe_fields[] = {
	{{"call_id", JSON_STRING, REQ}, FIELD_CALL},
	{{"feed", JSON_STRING, REQ}, FIELD_SECRET},
};

typedef struct request_row {
	calls_request_spec spec;
	const field_rule *fields;
	size_t n_fields;
} request_row;

#define ROW(name, kind, jsep, fields) {{name, kind, jsep}, fields, G_N_ELEMENTS(fields)}
#define ROW0(name, kind, jsep) {{name, kind, jsep}, NULL, 0}

static const request_row requests[] = {
	ROW("register", CALLS_REQ_REGISTER, CALLS_JSEP_FORBIDDEN, register_jwt),
	ROW0("unregister", CALLS_REQ_UNREGISTER, CALLS_JSEP_FORBIDDEN),
	ROW("call", CALLS_REQ_CALL, CALLS_JSEP_OFFER, call_fields),
	ROW("accept", CALLS_REQ_ACCEPT, CALLS_JSEP_ANSWER, call_id_only),
	ROW("decline", CALLS_REQ_DECLINE, CALLS_JSEP_FORBIDDEN, decline_fields),
	ROW("hangup", CALLS_REQ_HANGUP, CALLS_JSEP_FORBIDDEN, call_id_only),
	ROW("update", CALLS_REQ_UPDATE, CALLS_JSEP_ANY, call_id_only),
	ROW("media", CALLS_REQ_MEDIA, CALLS_JSEP_FORBIDDEN, media_fields),
	ROW("call_info", CALLS_REQ_CALL_INFO, CALLS_JSEP_FORBIDDEN, call_id_only),
	ROW("history", CALLS_REQ_HISTORY, CALLS_JSEP_FORBIDDEN, history_fields),
	ROW("history_delete", CALLS_REQ_HISTORY_DELETE, CALLS_JSEP_FORBIDDEN, history_delete_fields),
	ROW0("history_seen", CALLS_REQ_HISTORY_SEEN, CALLS_JSEP_FORBIDDEN),
	ROW("presence_subscribe", CALLS_REQ_PRESENCE_SUBSCRIBE, CALLS_JSEP_FORBIDDEN, user_list_fields),
	ROW("presence_unsubscribe", CALLS_REQ_PRESENCE_UNSUBSCRIBE, CALLS_JSEP_FORBIDDEN, user_list_fields),
	ROW("privacy", CALLS_REQ_PRIVACY, CALLS_JSEP_FORBIDDEN, privacy_fields),
	ROW("contacts_add", CALLS_REQ_CONTACTS_ADD, CALLS_JSEP_FORBIDDEN, user_list_fields),
	ROW("contacts_remove", CALLS_REQ_CONTACTS_REMOVE, CALLS_JSEP_FORBIDDEN, user_list_fields),
	ROW0("contacts", CALLS_REQ_CONTACTS, CALLS_JSEP_FORBIDDEN),
	ROW("push_register", CALLS_REQ_PUSH_REGISTER, CALLS_JSEP_FORBIDDEN, push_register_fields),
	ROW0("push_unregister", CALLS_REQ_PUSH_UNREGISTER, CALLS_JSEP_FORBIDDEN),
	ROW("group_call", CALLS_REQ_GROUP_CALL, CALLS_JSEP_OFFER, group_call_fields),
	ROW("join", CALLS_REQ_JOIN, CALLS_JSEP_OFFER, join_fields),
	ROW("invite", CALLS_REQ_INVITE, CALLS_JSEP_FORBIDDEN, invite_fields),
	ROW("leave", CALLS_REQ_LEAVE, CALLS_JSEP_FORBIDDEN, call_id_only),
	ROW("subscribe", CALLS_REQ_SUBSCRIBE, CALLS_JSEP_FORBIDDEN, subscribe_fields),
};

static gboolean id_chars(const char *s, size_t max, const char *extra) {
	size_t n = strlen(s);
	if(n < 1 || n > max)
		return FALSE;
	for(const char *p = s; *p != '\0'; p++) {
		if(!g_ascii_isalnum(*p) && strchr(extra, *p) == NULL)
			return FALSE;
	}
	return TRUE;
}

gboolean calls_valid_user_id(const char *s) {
	return s != NULL && id_chars(s, 64, "_.@+-");
}

gboolean calls_valid_device_id(const char *s) {
	return s != NULL && id_chars(s, 64, "_-");
}

gboolean calls_valid_call_id(const char *s) {
	/* Lowercase 8-4-4-4-12 hex, as the server makes them. */
	if(s == NULL || strlen(s) != 36)
		return FALSE;
	for(int i = 0; i < 36; i++) {
		char c = s[i];
		if(i == 8 || i == 13 || i == 18 || i == 23) {
			if(c != '-')
				return FALSE;
		} else if(!g_ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) {
			return FALSE;
		}
	}
	return TRUE;
}

static const request_row *find_row(const char *name) {
	for(size_t i = 0; name != NULL && i < G_N_ELEMENTS(requests); i++) {
		if(!strcmp(requests[i].spec.name, name))
			return &requests[i];
	}
	return NULL;
}

gboolean calls_request_kind_of(json_t *body, calls_request_kind *kind) {
	const request_row *row = find_row(calls_request_name(body));
	if(row != NULL)
		*kind = row->spec.kind;
	return row != NULL;
}

const char *calls_request_name(json_t *body) {
	return json_is_object(body) ? json_string_value(json_object_get(body, "request")) : NULL;
}

static size_t message_size(json_t *body, json_t *jsep) {
	size_t n = json_dumpb(body, NULL, 0, JSON_COMPACT);
	const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
	if(sdp != NULL)
		n += strlen(sdp);
	return n;
}

/* 1 to CALLS_MAX_LIST ids, each valid (more is 413, not 400). */
static int check_id_list(const char *name, json_t *value, gboolean (*valid)(const char *),
		const char *what, calls_error *err) {
	size_t n = json_array_size(value);
	if(n == 0)
		return calls_fail(err, CALLS_ERR_INVALID, "%s is empty", name);
	if(n > CALLS_MAX_LIST)
		return calls_fail(err, CALLS_ERR_TOO_LARGE, "%s has more than %d ids", name, CALLS_MAX_LIST);
	for(size_t i = 0; i < n; i++) {
		if(!valid(json_string_value(json_array_get(value, i))))
			return calls_fail(err, CALLS_ERR_INVALID, "%s[%zu] is not a valid %s", name, i, what);
	}
	return 0;
}

static int check_field(const field_rule *rule, json_t *value, calls_error *err) {
	const char *name = rule->param.name;
	const char *s = json_string_value(value);
	switch(rule->kind) {
		case FIELD_USER:
			if(!calls_valid_user_id(s))
				return calls_fail(err, CALLS_ERR_INVALID, "%s is not a valid user id (1 to 64 of A-Z a-z 0-9 _ . @ + -)", name);
			break;
		case FIELD_DEVICE:
			if(!calls_valid_device_id(s))
				return calls_fail(err, CALLS_ERR_INVALID, "%s is not a valid device id (1 to 64 of A-Z a-z 0-9 _ -)", name);
			break;
		case FIELD_CALL:
			if(!calls_valid_call_id(s))
				return calls_fail(err, CALLS_ERR_INVALID, "%s is not a valid call id", name);
			break;
		case FIELD_DISPLAY:
			if(strlen(s) > CALLS_MAX_DISPLAY_BYTES)
				return calls_fail(err, CALLS_ERR_INVALID, "%s is longer than %d bytes", name, CALLS_MAX_DISPLAY_BYTES);
			break;
		case FIELD_REASON:
			if(strcmp(s, "declined") != 0 && strcmp(s, "busy") != 0)
				return calls_fail(err, CALLS_ERR_INVALID, "%s must be \"declined\" or \"busy\"", name);
			break;
		case FIELD_LIMIT: {
			json_int_t v = json_integer_value(value);
			if(v < 1 || v > 100)
				return calls_fail(err, CALLS_ERR_INVALID, "%s must be from 1 to 100", name);
			break;
		}
		case FIELD_CURSOR: {
			gint64 us;
			char id[37];
			if(!calls_cursor_parse(s, &us, id))
				return calls_fail(err, CALLS_ERR_INVALID, "%s is not a cursor from an earlier history page", name);
			break;
		}
		case FIELD_FILTER:
			if(strcmp(s, "all") != 0 && strcmp(s, "missed") != 0)
				return calls_fail(err, CALLS_ERR_INVALID, "%s must be \"all\" or \"missed\"", name);
			break;
		case FIELD_CALL_LIST:
			return check_id_list(name, value, calls_valid_call_id, "call id", err);
		case FIELD_USER_LIST:
			return check_id_list(name, value, calls_valid_user_id, "user id", err);
		case FIELD_PRIVACY:
			if(strcmp(s, "everyone") != 0 && strcmp(s, "contacts") != 0 && strcmp(s, "nobody") != 0)
				return calls_fail(err, CALLS_ERR_INVALID, "%s must be \"everyone\", \"contacts\" or \"nobody\"", name);
			break;
		case FIELD_PLATFORM:
			if(strcmp(s, "webhook") != 0 && strcmp(s, "fcm") != 0 && strcmp(s, "apns") != 0)
				return calls_fail(err, CALLS_ERR_INVALID, "%s must be \"webhook\", \"fcm\" or \"apns\"", name);
			break;
		case FIELD_PUSH_TOKEN: {
			size_t n = strlen(s);
			if(n == 0 || n > CALLS_MAX_PUSH_TOKEN)
				return calls_fail(err, CALLS_ERR_INVALID, "%s must be 1 to %d bytes", name, CALLS_MAX_PUSH_TOKEN);
			for(const char *c = s; *c != '\0'; c++) {
				if((unsigned char)*c < 0x21 || *c == 0x7f)
					return calls_fail(err, CALLS_ERR_INVALID, "%s has a space or a control character", name);
			}
			break;
		}
		case FIELD_SECRET:
			/* Links and feeds are made by the server (32 or 36 characters). */
			if(!id_chars(s, 64, "-"))
				return calls_fail(err, CALLS_ERR_INVALID, "%s is not a valid %s", name, name);
			break;
		case FIELD_PLAIN:
			break;
	}
	return 0;
}

int calls_request_parse(json_t *body, json_t *jsep, gboolean auth_none, size_t max_bytes,
		const calls_request_spec **spec, calls_error *err) {
	*spec = NULL;
	if(!json_is_object(body))
		return calls_fail(err, CALLS_ERR_INVALID, "the body must be a JSON object");
	if(max_bytes > 0 && message_size(body, jsep) > max_bytes)
		return calls_fail(err, CALLS_ERR_INVALID, "message larger than %zu bytes", max_bytes);
	json_t *request = json_object_get(body, "request");
	if(request == NULL)
		return calls_fail(err, CALLS_ERR_INVALID, "missing request");
	if(!json_is_string(request))
		return calls_fail(err, CALLS_ERR_INVALID, "request must be a string");
	const char *name = json_string_value(request);
	const request_row *row = find_row(name);
	if(row == NULL)
		return calls_fail(err, CALLS_ERR_INVALID, "unknown request \"%.64s\"", name);
	const field_rule *fields = row->fields;
	size_t n = row->n_fields;
	if(row->spec.kind == CALLS_REQ_REGISTER && auth_none) {
		fields = register_none;
		n = G_N_ELEMENTS(register_none);
	}
	for(size_t i = 0; i < n; i++) {
		const struct janus_json_parameter *p = &fields[i].param;
		json_t *value = json_object_get(body, p->name);
		if(value == NULL) {
			if(p->flags & JANUS_JSON_PARAM_REQUIRED)
				return calls_fail(err, CALLS_ERR_INVALID, "missing %s", p->name);
			continue;
		}
		if(!janus_json_is_valid(value, p->jtype, p->flags))
			return calls_fail(err, CALLS_ERR_INVALID, "%s has the wrong type", p->name);
		if(check_field(&fields[i], value, err) != 0)
			return err->code;
	}
	*spec = &row->spec;
	return 0;
}

int calls_request_check_jsep(const calls_request_spec *spec, json_t *jsep, calls_error *err) {
	const char *type = json_string_value(json_object_get(jsep, "type"));
	switch(spec->jsep) {
		case CALLS_JSEP_FORBIDDEN:
			if(jsep != NULL)
				return calls_fail(err, CALLS_ERR_STATE, "%s takes no JSEP", spec->name);
			return 0;
		case CALLS_JSEP_OFFER:
			if(type == NULL || strcmp(type, "offer") != 0)
				return calls_fail(err, CALLS_ERR_STATE, "%s needs a JSEP offer", spec->name);
			return 0;
		case CALLS_JSEP_ANSWER:
			if(type == NULL || strcmp(type, "answer") != 0)
				return calls_fail(err, CALLS_ERR_STATE, "%s needs a JSEP answer", spec->name);
			return 0;
		case CALLS_JSEP_ANY:
			if(type == NULL || (strcmp(type, "offer") != 0 && strcmp(type, "answer") != 0))
				return calls_fail(err, CALLS_ERR_STATE, "%s needs a JSEP offer or answer", spec->name);
			return 0;
	}
	return 0;
}
