/* lanes.c: a CA's own signing threads, for the ecverify addon. The lanes run batches they know
 * nothing of, through their owner's lane_ops_t. */
#ifndef FEDBROKER_LANES_H
#define FEDBROKER_LANES_H

#define NAPI_VERSION 8 /* type tags (Node 20 has 9) */
#include <node_api.h>

typedef struct lanes lanes_t;

/* What the lanes do with one batch. */
typedef struct {
  void (*execute)(void *batch);                 /* on a lane thread */
  void (*complete)(napi_env env, void *batch);  /* on the main thread: answer it, free it */
  void (*refuse)(napi_env env, void *batch, const char *why); /* reject it, free it */
  void (*drop)(napi_env env, void *batch);      /* free it unanswered; env NULL: going away */
} lane_ops_t;

/* Why a batch given to closed lanes is refused. */
extern const char *const LANES_CLOSED;

/* Queues a batch on `lanes`; 0 when the lanes are closed or memory runs out. */
int lanes_give(napi_env env, lanes_t *lanes, const lane_ops_t *ops, void *batch);

/* The lanes of argument `value`: NULL when it is undefined (the libuv pool), `bad` set when it is
 * anything but a lanes handle of this copy of the addon. */
lanes_t *lanes_of(napi_env env, napi_value value, int *bad);

/* createLanes(threads: 1..64) -> handle, and closeLanes(handle), for the addon's exports. */
napi_value create_lanes(napi_env env, napi_callback_info info);
napi_value close_lanes(napi_env env, napi_callback_info info);

/* Once per process, after OpenSSL is set up: the lanes' tag and their exit handler. */
void lanes_init_once(void);

#endif
