/* lanes: a CA's own signing threads for the ecverify addon (createLanes, closeLanes). Batches wait
 * in one FIFO queue; each thread takes the oldest, runs it as a pool work item would, and hands it
 * back to the main thread through a thread-safe function, whose call answers it. The queue keeps
 * the threads busy while work is waiting (a batch never waits for the main thread to hand over the
 * next one), and their number is the CA's to choose (ca.csrCheckWorkers). The threads are joined on
 * close (after the batch each holds; the queued rest is refused), when the environment goes away (a
 * worker thread), when the handle is collected, and at exit (before OpenSSL's own cleanup). What a
 * batch is, and how it is run and answered, is its owner's (ecverify.c, through lane_ops_t). */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include "lanes.h"

const char *const LANES_CLOSED = "the signing threads are closed";

/* The lanes handle's tag; the second word is this copy of the addon's own (lanes_init_once), so a
 * handle made by another copy loaded from another path, whose threads are on another exit list, is
 * refused. */
static napi_type_tag LANES_TAG = {0x6665646c616e0001ULL, 0};

typedef struct queued {
  struct queued *next;
  const lane_ops_t *ops;
  void *batch;
} queued_t;

struct lanes {
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  queued_t *head, *tail;
  int closing; /* under mutex: threads exit once the queue is empty... */
  int abandon; /* ...or, with this too, after the batch in hand (the rest stays queued) */
  /* Under live_mutex: */
  struct lanes *next_live; /* the list of lanes whose threads nobody has begun to join */
  int joined;              /* the threads are joined (by lanes_stop or at exit) */
  /* The environment's thread only: */
  int stopped;        /* threads joined and the thread-safe function released */
  int hook_added;     /* the environment cleanup hook is registered */
  int refs;           /* the JavaScript handle and the thread-safe function */
  size_t pending;     /* batches given and not yet answered: keeps the event loop alive */
  size_t thread_count;
  pthread_t *threads;
  napi_threadsafe_function tsfn;
};

static void lanes_cleanup(void *arg);

/* Lanes whose threads nobody has begun to join (this copy of the addon's), for the exit handler;
 * and the joins lanes_stop is making outside the lock (it never holds the lock while it waits for a
 * thread, so one environment's close does not stall another's). */
static pthread_mutex_t live_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_joined = PTHREAD_COND_INITIALIZER;
static lanes_t *live;
static size_t joins_in_progress;

/* Under live_mutex: takes `lanes` off the live list; 0 when it was not there (someone else joins). */
static int live_claim_locked(lanes_t *lanes) {
  for (lanes_t **at = &live; *at != NULL; at = &(*at)->next_live) {
    if (*at == lanes) {
      *at = lanes->next_live;
      lanes->next_live = NULL;
      return 1;
    }
  }
  return 0;
}

/* The threads stop (after the batch in hand, with `abandon`; else once the queue is empty) and are
 * joined. Only by whoever claimed the lanes. */
static void lanes_join(lanes_t *lanes, int abandon) {
  pthread_mutex_lock(&lanes->mutex);
  lanes->closing = 1;
  if (abandon) lanes->abandon = 1;
  pthread_cond_broadcast(&lanes->wake);
  pthread_mutex_unlock(&lanes->mutex);
  for (size_t i = 0; i < lanes->thread_count; i++) pthread_join(lanes->threads[i], NULL);
}

/* exit() (process.exit, or an uncaught exception) runs no environment cleanup hook, but it does run
 * OpenSSL's own atexit cleanup, which frees locks a busy lane thread would still take (a crash on
 * the way out). Registered after OpenSSL's, this runs first: each thread finishes the batch in hand
 * and is joined, and joins already under way are waited for; what is queued is not answered (the
 * process is ending). */
static void lanes_at_exit(void) {
  pthread_mutex_lock(&live_mutex);
  while (live != NULL) {
    lanes_t *lanes = live;
    live = lanes->next_live;
    lanes->next_live = NULL;
    lanes_join(lanes, 1);
    lanes->joined = 1;
  }
  while (joins_in_progress > 0) pthread_cond_wait(&live_joined, &live_mutex);
  pthread_mutex_unlock(&live_mutex);
}

static void *lane_main(void *arg) {
  lanes_t *lanes = arg;
  for (;;) {
    pthread_mutex_lock(&lanes->mutex);
    while (lanes->head == NULL && !lanes->closing) pthread_cond_wait(&lanes->wake, &lanes->mutex);
    queued_t *item = lanes->abandon ? NULL : lanes->head;
    if (item != NULL) {
      lanes->head = item->next;
      if (lanes->head == NULL) lanes->tail = NULL;
    }
    pthread_mutex_unlock(&lanes->mutex);
    if (item == NULL) return NULL; /* closing, and nothing left (or the rest abandoned) */
    item->ops->execute(item->batch);
    /* Fails only while the environment is torn down; the batch then goes with the process. */
    napi_call_threadsafe_function(lanes->tsfn, item, napi_tsfn_blocking);
  }
}

static void lanes_unref(napi_env env, lanes_t *lanes) {
  if (--lanes->refs > 0) return;
  if (lanes->hook_added) napi_remove_env_cleanup_hook(env, lanes_cleanup, lanes);
  pthread_mutex_destroy(&lanes->mutex);
  pthread_cond_destroy(&lanes->wake);
  free(lanes->threads);
  free(lanes);
}

/* On the main thread: the batch's completion, as after a pool work item. */
static void lane_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  lanes_t *lanes = context;
  queued_t *item = data;
  if (env == NULL) { /* the environment is going away: nothing to answer */
    item->ops->drop(NULL, item->batch);
    free(item);
    return;
  }
  item->ops->complete(env, item->batch);
  free(item);
  if (--lanes->pending == 0 && !lanes->stopped) napi_unref_threadsafe_function(env, lanes->tsfn);
}

static void lanes_tsfn_gone(napi_env env, void *data, void *hint) {
  (void)hint;
  lanes_unref(env, data);
}

/* How lanes_stop treats the batches still queued: worked off (the handle was collected, its
 * promises may still be awaited), refused with LANES_CLOSED (closeLanes: the CA falls back to its
 * main thread), or freed unanswered (the environment is going away). */
enum { STOP_DRAIN, STOP_REFUSE, STOP_DROP };

/* Idempotent, on the environment's thread: the threads stop and are joined (they finish the batch
 * in hand; with STOP_DRAIN the whole queue), the rest of the queue is treated as `mode` says, then
 * the thread-safe function is released (finished batches it holds are still answered). */
static void lanes_stop(napi_env env, lanes_t *lanes, int mode) {
  if (lanes->stopped) return;
  lanes->stopped = 1;
  pthread_mutex_lock(&live_mutex);
  int mine = live_claim_locked(lanes);
  if (mine) joins_in_progress += 1;
  else { /* the exit handler claimed it: wait until its threads are gone */
    while (!lanes->joined) pthread_cond_wait(&live_joined, &live_mutex);
  }
  pthread_mutex_unlock(&live_mutex);
  if (mine) {
    lanes_join(lanes, mode != STOP_DRAIN);
    pthread_mutex_lock(&live_mutex);
    lanes->joined = 1;
    joins_in_progress -= 1;
    pthread_cond_broadcast(&live_joined);
    pthread_mutex_unlock(&live_mutex);
  }
  queued_t *item = lanes->head; /* the threads are gone: nothing else touches the queue */
  lanes->head = lanes->tail = NULL;
  while (item != NULL) {
    queued_t *next = item->next;
    if (mode == STOP_REFUSE) item->ops->refuse(env, item->batch, LANES_CLOSED);
    else item->ops->drop(mode == STOP_DROP ? NULL : env, item->batch);
    free(item);
    item = next;
  }
  napi_release_threadsafe_function(lanes->tsfn, napi_tsfn_release);
}

static void lanes_cleanup(void *arg) {
  lanes_t *lanes = arg;
  lanes->hook_added = 0; /* the environment drops its hooks as it runs them */
  lanes_stop(NULL, lanes, STOP_DROP);
}

static void lanes_handle_gone(napi_env env, void *data, void *hint) {
  (void)hint;
  lanes_stop(env, data, STOP_DRAIN);
  lanes_unref(env, data);
}

int lanes_give(napi_env env, lanes_t *lanes, const lane_ops_t *ops, void *batch) {
  if (lanes->stopped) return 0;
  queued_t *item = malloc(sizeof *item);
  if (item == NULL) return 0;
  item->next = NULL;
  item->ops = ops;
  item->batch = batch;
  if (lanes->pending++ == 0) napi_ref_threadsafe_function(env, lanes->tsfn);
  pthread_mutex_lock(&lanes->mutex);
  if (lanes->tail == NULL) lanes->head = item;
  else lanes->tail->next = item;
  lanes->tail = item;
  pthread_cond_signal(&lanes->wake);
  pthread_mutex_unlock(&lanes->mutex);
  return 1;
}

lanes_t *lanes_of(napi_env env, napi_value value, int *bad) {
  napi_valuetype type = napi_undefined;
  void *data = NULL;
  *bad = 0;
  if (napi_typeof(env, value, &type) != napi_ok || type == napi_undefined) return NULL;
  bool tagged = false;
  if (type != napi_external ||
      napi_check_object_type_tag(env, value, &LANES_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    *bad = 1;
    return NULL;
  }
  return data;
}

/* createLanes(threads: 1..64) -> handle: that many signing threads of the caller's own. */
napi_value create_lanes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name, result;
  double asked = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_double(env, argv[0], &asked) != napi_ok || !(asked >= 1 && asked <= 64) ||
      asked != (double)(int32_t)asked) {
    napi_throw_type_error(env, NULL, "createLanes(threads) takes a whole number from 1 to 64");
    return NULL;
  }
  int32_t count = (int32_t)asked;
  lanes_t *lanes = calloc(1, sizeof *lanes);
  if (lanes == NULL || (lanes->threads = calloc((size_t)count, sizeof(pthread_t))) == NULL) {
    free(lanes);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&lanes->mutex, NULL);
  pthread_cond_init(&lanes->wake, NULL);
  lanes->refs = 2;
  napi_create_string_utf8(env, "fedbroker:ecdsa-lanes", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, lanes, lanes_tsfn_gone, lanes,
                                      lane_done, &lanes->tsfn) != napi_ok) {
    pthread_mutex_destroy(&lanes->mutex);
    pthread_cond_destroy(&lanes->wake);
    free(lanes->threads);
    free(lanes);
    napi_throw_error(env, NULL, "cannot make the signing threads' channel");
    return NULL;
  }
  napi_unref_threadsafe_function(env, lanes->tsfn);
  pthread_mutex_lock(&live_mutex); /* before any thread runs: the exit handler must see them */
  lanes->next_live = live;
  live = lanes;
  pthread_mutex_unlock(&live_mutex);
  for (int32_t i = 0; i < count; i++) {
    if (pthread_create(&lanes->threads[i], NULL, lane_main, lanes) != 0) {
      lanes_stop(env, lanes, STOP_DROP); /* joins the threads started so far */
      lanes_unref(env, lanes);
      napi_throw_error(env, NULL, "cannot start the signing threads");
      return NULL;
    }
    lanes->thread_count = (size_t)i + 1;
#ifdef __linux__
    pthread_setname_np(lanes->threads[i], "ecdsa-lane"); /* as ps and perf show it */
#endif
  }
  napi_add_env_cleanup_hook(env, lanes_cleanup, lanes);
  lanes->hook_added = 1;
  if (napi_create_external(env, lanes, lanes_handle_gone, NULL, &result) != napi_ok) {
    lanes_stop(env, lanes, STOP_DROP);
    lanes_unref(env, lanes);
    napi_throw_error(env, NULL, "cannot make a handle for the signing threads");
    return NULL;
  }
  if (napi_type_tag_object(env, result, &LANES_TAG) != napi_ok) {
    lanes_stop(env, lanes, STOP_DROP); /* the handle's finalizer drops its reference */
    napi_throw_error(env, NULL, "cannot make a handle for the signing threads");
    return NULL;
  }
  return result;
}

/* closeLanes(handle): each thread finishes the batch in hand (answered as usual) and exits; the
 * batches still queued are refused with LANES_CLOSED, so closing never waits for a long queue. */
napi_value close_lanes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int bad = 0;
  lanes_t *lanes = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      (lanes = lanes_of(env, argv[0], &bad)) == NULL) {
    napi_throw_type_error(env, NULL, "closeLanes(handle) takes a handle from createLanes");
    return NULL;
  }
  lanes_stop(env, lanes, STOP_REFUSE);
  return NULL;
}

void lanes_init_once(void) {
  LANES_TAG.upper = 0x4d8b2a61c03f7e92ULL ^ (uint64_t)(uintptr_t)&live;
  /* Node set up OpenSSL (and its atexit cleanup) before any addon loads: this runs before it. */
  atexit(lanes_at_exit);
}
