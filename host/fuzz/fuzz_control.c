// SPDX-License-Identifier: GPL-2.0-only
/*
 * One control-socket request line: whatever it is, the reply must be one
 * JSON object with an "ok" boolean, and nothing may leak.
 */
#include <errno.h>
#include <json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

static int handler(void *opaque, const char *cmd, struct json_object *req,
		   struct json_object *resp)
{
	(void)opaque;
	(void)req;
	if (!strcmp(cmd, "status")) {
		json_object_object_add(resp, "x", json_object_new_int(1));
		return 0;
	}
	return strcmp(cmd, "fail") ? -ENOENT : -EIO;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct control ctl = { .handler = handler };
	struct json_object *obj, *ok;
	char *reply;

	if (size > CONTROL_LINE_MAX)
		return 0;
	reply = control_reply(&ctl, (const char *)data, size);
	if (!reply)
		abort();
	obj = json_tokener_parse(reply);
	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean) || strchr(reply, '\n'))
		abort();
	json_object_put(obj);
	free(reply);
	return 0;
}
