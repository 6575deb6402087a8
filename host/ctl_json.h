/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control-plane commands of the JSON control socket: status of the
 * guest connection, and the device list, add and remove.
 */
#ifndef KVMBUSD_CTL_JSON_H
#define KVMBUSD_CTL_JSON_H

#include "ctl.h"

struct json_object;

/* Add "ctl" (the connection) and "mailbox" (the last accepted CONNECT)
 * to a status reply. */
void ctl_status_json(const struct ctl *c, struct json_object *resp);

/* One device, with its channel, as a JSON object. */
struct json_object *ctl_device_json(const struct ctl *c,
				    const struct device *dev);

/*
 * The commands, as control_handler parts:
 *	devices					"devices": [...]
 *	device-add    {"class": "echo", "params": {"k": "v"}}
 *						"device": {...}
 *	device-set    {"id": N, "params": {"k": "v"}}
 *						"device": {...}
 *	device-remove {"id": N}			"device": {...}, state
 *						"removed" or "releasing"
 *	echo-send {"id": N, "count": C, "size": S[, "sub": I]}
 *						start C host-initiated
 *						packets of S bytes on echo
 *						device N's open channel
 *						(sub-channel I; 0: primary)
 * Return: 0 or -errno with a message set by control_fail().
 */
int ctl_cmd_devices(struct ctl *c, struct json_object *req,
		    struct json_object *resp);
int ctl_cmd_device_add(struct ctl *c, struct json_object *req,
		       struct json_object *resp);
int ctl_cmd_device_remove(struct ctl *c, struct json_object *req,
			  struct json_object *resp);
int ctl_cmd_device_set(struct ctl *c, struct json_object *req,
		       struct json_object *resp);
int ctl_cmd_echo_send(struct ctl *c, struct json_object *req,
		      struct json_object *resp);

#endif /* KVMBUSD_CTL_JSON_H */
