/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Device class parameters: "key=value" text from `kvmbusctl add CLASS
 * key=value ...`, `kvmbusctl set ID key=value ...` and `kvmbusd --device
 * CLASS,key=value,...`, turned into the JSON object of strings the
 * control socket carries and a class's dev_add / dev_set read
 * (vsp_ops in chan.h).
 */
#ifndef KVMBUSD_PARAMS_H
#define KVMBUSD_PARAMS_H

#include <stddef.h>

struct json_object;

#define PARAMS_KEY_MAX		32
#define PARAMS_VALUE_MAX	256

/*
 * params_add_kv() - add one "key=value" to @obj
 *
 * The key is 1..PARAMS_KEY_MAX characters of [a-z0-9_-]; the value may be
 * empty, up to PARAMS_VALUE_MAX characters.  A key given twice is an
 * error.
 * Return: 0 or -EINVAL with a message in @err.
 */
int params_add_kv(struct json_object *obj, const char *kv, size_t len,
		  char *err, size_t errlen);

/*
 * params_from_list() - "key=value,key=value" (or "") as a JSON object
 * Return: a new object, or NULL with a message in @err.
 */
struct json_object *params_from_list(const char *list, char *err,
				     size_t errlen);

#endif /* KVMBUSD_PARAMS_H */
