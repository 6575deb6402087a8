// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device class parameters: see params.h.
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <string.h>

#include "params.h"

static int params_key_ok(const char *k, size_t len)
{
	size_t i;

	if (!len || len > PARAMS_KEY_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '_' ||
		      k[i] == '-'))
			return 0;
	return 1;
}

int params_add_kv(struct json_object *obj, const char *kv, size_t len,
		  char *err, size_t errlen)
{
	const char *eq = memchr(kv, '=', len);
	char key[PARAMS_KEY_MAX + 1];
	size_t klen, vlen;

	if (!eq) {
		snprintf(err, errlen, "parameter '%.*s' is not key=value",
			 (int)(len > 64 ? 64 : len), kv);
		return -EINVAL;
	}
	klen = (size_t)(eq - kv);
	vlen = len - klen - 1;
	if (!params_key_ok(kv, klen)) {
		snprintf(err, errlen,
			 "parameter '%.*s': a key is 1 to %u characters of a-z, 0-9, _ and -",
			 (int)(len > 64 ? 64 : len), kv, PARAMS_KEY_MAX);
		return -EINVAL;
	}
	if (vlen > PARAMS_VALUE_MAX) {
		snprintf(err, errlen, "parameter %.*s: value longer than %u",
			 (int)klen, kv, PARAMS_VALUE_MAX);
		return -EINVAL;
	}
	memcpy(key, kv, klen);
	key[klen] = '\0';
	if (json_object_object_get_ex(obj, key, NULL)) {
		snprintf(err, errlen, "parameter %s given twice", key);
		return -EINVAL;
	}
	json_object_object_add(obj, key,
			       json_object_new_string_len(eq + 1, (int)vlen));
	return 0;
}

struct json_object *params_from_list(const char *list, char *err,
				     size_t errlen)
{
	struct json_object *obj = json_object_new_object();
	const char *p = list, *comma;
	size_t len;

	if (!obj) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (p && *p) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (params_add_kv(obj, p, len, err, errlen)) {
			json_object_put(obj);
			return NULL;
		}
		p = comma ? comma + 1 : NULL;
		if (p && !*p) {
			snprintf(err, errlen, "empty parameter after ','");
			json_object_put(obj);
			return NULL;
		}
	}
	return obj;
}
