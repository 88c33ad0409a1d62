/* ecverify: a Node-API addon that checks a CSR's ECDSA signature (proof of possession) with the
 * OpenSSL that Node itself carries (its exported libcrypto symbols), through the EC_KEY/ECDSA calls
 * instead of an EVP_PKEY. Node's own path builds a legacy key and exports it to a provider key on
 * first use, which costs more than the verification; here the point is decoded into an EC_KEY of a
 * shared named group and ECDSA_verify runs on it. Same checks: the point must lie on the curve
 * (EC_POINT_oct2point) and the signature must be strict DER (ECDSA_verify re-encodes and compares).
 * For a busy CA a batch may also carry each request's TBSCertificate: the addon signs it with the CA's
 * EC key (ECDSA_sign on an EC_KEY made once from PKCS#8 DER, freed with its handle) only where the
 * check passed, so the check and the signature leave the main thread in one work item.
 * A CA may give its batches to threads of its own (createLanes) instead of the libuv thread pool:
 * exactly as many as it has cores to spare, working through one queue, so the checks never crowd
 * the event loop off its core nor wait behind the file writes the pool also runs.
 * Built by `npm ci` (binding.gyp, nodedir /usr, nothing downloaded); src/ca/native-ecdsa.ts falls
 * back to node:crypto when it is missing. */
#define OPENSSL_SUPPRESS_DEPRECATED
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define NAPI_VERSION 8 /* type tags (Node 20 has 9) */
#include <node_api.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* Result of one check: the signature verifies, it does not, or the key is not a point of the curve. */
enum { RESULT_VALID = 1, RESULT_INVALID = 0, RESULT_BAD_KEY = -1 };

/* Curves and hashes by index, as src/ca/native-ecdsa.ts numbers them. */
static const int CURVE_NIDS[3] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
static EC_GROUP *groups[3];

/* A batch copies each check; CSRs are at most 64 KiB (src/ca/csr.ts), so this only stops misuse. */
#define MAX_JOB_BYTES (1024 * 1024)

static int digest(int hash, const unsigned char *data, size_t length, unsigned char *out,
                  unsigned int *out_length) {
  switch (hash) {
  case 0:
    SHA256(data, length, out);
    *out_length = SHA256_DIGEST_LENGTH;
    return 1;
  case 1:
    SHA384(data, length, out);
    *out_length = SHA384_DIGEST_LENGTH;
    return 1;
  case 2:
    SHA512(data, length, out);
    *out_length = SHA512_DIGEST_LENGTH;
    return 1;
  default:
    return 0;
  }
}

/* The check itself; safe on any thread (the groups are only read after init). */
static int check(int curve, int hash, const unsigned char *point, size_t point_length,
                 const unsigned char *data, size_t data_length, const unsigned char *sig,
                 size_t sig_length) {
  unsigned char md[SHA512_DIGEST_LENGTH];
  unsigned int md_length = 0;
  if (curve < 0 || curve > 2 || groups[curve] == NULL) return RESULT_BAD_KEY;
  if (!digest(hash, data, data_length, md, &md_length)) return RESULT_INVALID;
  EC_KEY *key = EC_KEY_new();
  EC_POINT *pub = EC_POINT_new(groups[curve]);
  int result = RESULT_BAD_KEY;
  if (key == NULL || pub == NULL || EC_KEY_set_group(key, groups[curve]) != 1) goto done;
  if (EC_POINT_oct2point(groups[curve], pub, point, point_length, NULL) != 1) goto done;
  if (EC_POINT_is_at_infinity(groups[curve], pub) || EC_KEY_set_public_key(key, pub) != 1) goto done;
  result = ECDSA_verify(0, md, (int)md_length, sig, (int)sig_length, key) == 1 ? RESULT_VALID
                                                                             : RESULT_INVALID;
done:
  EC_POINT_free(pub);
  EC_KEY_free(key);
  return result;
}

/* Any length is judged by OpenSSL: a point of the wrong size is not on the curve, a signature of the
 * wrong size is not strict DER. Only the type is the caller's mistake. */
static int bytes_of(napi_env env, napi_value value, const unsigned char **out, size_t *length,
                    size_t max) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &data, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array || *length > max) return 0;
  *out = data;
  return 1;
}

/* verify(curve, hash, point, data, signature) -> 1 | 0 | -1, on the calling thread. */
static napi_value verify(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t curve = -1, hash = -1;
  const unsigned char *point, *data, *sig;
  size_t point_length, data_length, sig_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &curve) != napi_ok ||
      napi_get_value_int32(env, argv[1], &hash) != napi_ok ||
      !bytes_of(env, argv[2], &point, &point_length, SIZE_MAX) ||
      !bytes_of(env, argv[3], &data, &data_length, SIZE_MAX) ||
      !bytes_of(env, argv[4], &sig, &sig_length, SIZE_MAX)) {
    napi_throw_type_error(env, NULL,
                          "verify(curve, hash, point, data, signature) takes two indexes and "
                          "three Uint8Arrays");
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, check(curve, hash, point, point_length, data, data_length, sig,
                               sig_length),
                    &result);
  return result;
}

/* One check of a batch, its bytes copied so the thread pool never touches JavaScript memory. */
typedef struct {
  int curve, hash;
  size_t point_length, data_length, sig_length;
  unsigned char *bytes; /* point | data | signature */
  int result;
} job_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  size_t count;
  job_t *jobs;
} batch_t;

/* The two kinds of handle JavaScript holds, told apart by a tag (an external is otherwise any
 * pointer): a CA signing key, and a set of signing threads. The second word is this copy of the
 * addon's own (set in make_groups from an address in it): a handle made by another copy loaded
 * from another path, whose threads are on another exit list, is refused too. */
static napi_type_tag KEY_TAG = {0x6665646b65790001ULL, 0};
static napi_type_tag LANES_TAG = {0x6665646c616e0001ULL, 0};

/* The CA's own signing threads (below); a batch goes to them or to the libuv pool. */
typedef struct lanes lanes_t;
enum { KIND_VERIFY = 0, KIND_SIGN = 1 };
static lanes_t *lanes_of(napi_env env, napi_value value, int *bad);
static int lanes_give(napi_env env, lanes_t *lanes, int kind, void *batch);

static void batch_free(batch_t *batch) {
  for (size_t i = 0; i < batch->count; i++) free(batch->jobs[i].bytes);
  free(batch->jobs);
  free(batch);
}

/* Copies check i of a batch (point, signed data, signature: arrays[0..2]) into `job`; 0 when the
 * arrays do not hold Uint8Arrays of a sane size there, or memory runs out. */
static int copy_check(napi_env env, const napi_value *arrays, uint32_t i, int curve, int hash,
                      job_t *job) {
  const unsigned char *parts[3];
  size_t lengths[3];
  for (int k = 0; k < 3; k++) {
    napi_value item;
    if (napi_get_element(env, arrays[k], i, &item) != napi_ok ||
        !bytes_of(env, item, &parts[k], &lengths[k], MAX_JOB_BYTES)) {
      return 0;
    }
  }
  if (lengths[0] + lengths[1] + lengths[2] > MAX_JOB_BYTES) return 0;
  job->bytes = malloc(lengths[0] + lengths[1] + lengths[2] + 1);
  if (job->bytes == NULL) return 0;
  job->curve = curve;
  job->hash = hash;
  job->point_length = lengths[0];
  job->data_length = lengths[1];
  job->sig_length = lengths[2];
  memcpy(job->bytes, parts[0], lengths[0]);
  memcpy(job->bytes + lengths[0], parts[1], lengths[1]);
  memcpy(job->bytes + lengths[0] + lengths[1], parts[2], lengths[2]);
  return 1;
}

/* Runs a copied check on the calling thread (a pool thread). */
static int run_check(const job_t *job) {
  const unsigned char *p = job->bytes;
  return check(job->curve, job->hash, p, job->point_length, p + job->point_length,
               job->data_length, p + job->point_length + job->data_length, job->sig_length);
}

static void batch_execute(napi_env env, void *data) {
  (void)env;
  batch_t *batch = data;
  for (size_t i = 0; i < batch->count; i++) batch->jobs[i].result = run_check(&batch->jobs[i]);
}

/* Rejects a batch's promise: it was cancelled, or its answer could not be made (the environment is
 * going away, or memory ran out). If even that fails, nothing is left to answer. */
static void reject_batch(napi_env env, napi_deferred deferred, const char *message) {
  napi_value text, error;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text) == napi_ok &&
      napi_create_error(env, NULL, text, &error) == napi_ok) {
    napi_reject_deferred(env, deferred, error);
  }
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  batch_t *batch = data;
  napi_value results, buffer;
  void *out = NULL;
  if (status != napi_ok) {
    reject_batch(env, batch->deferred, "the ecdsa batch was cancelled");
  } else if (napi_create_arraybuffer(env, batch->count, &out, &buffer) != napi_ok ||
             (out == NULL && batch->count > 0) ||
             napi_create_typedarray(env, napi_int8_array, batch->count, buffer, 0, &results) !=
                 napi_ok) {
    reject_batch(env, batch->deferred, "the ecdsa batch's answer could not be made");
  } else {
    for (size_t i = 0; i < batch->count; i++) ((signed char *)out)[i] = (signed char)batch->jobs[i].result;
    napi_resolve_deferred(env, batch->deferred, results);
  }
  if (batch->work != NULL) napi_delete_async_work(env, batch->work);
  batch_free(batch);
}

static const char *const LANES_CLOSED = "the signing threads are closed";

/* verifyBatch(curves: Uint8Array, hashes: Uint8Array, points, datas, signatures: Uint8Array[],
 * lanes?) -> Promise<Int8Array>: the checks run on the libuv thread pool, one work item per batch,
 * or on `lanes` (createLanes) when given. */
static napi_value verify_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  const unsigned char *curves, *hashes;
  size_t count = 0, hash_count = 0;
  int bad_lanes = 0;
  lanes_t *lanes = NULL;
  const char *usage = "verifyBatch(curves, hashes, points, datas, signatures, lanes?) takes two "
                      "Uint8Arrays, three arrays of Uint8Arrays of the same length and optionally "
                      "a handle from createLanes";
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      !bytes_of(env, argv[0], &curves, &count, 4096) ||
      !bytes_of(env, argv[1], &hashes, &hash_count, 4096) || hash_count != count ||
      (argc > 5 && ((lanes = lanes_of(env, argv[5], &bad_lanes)), bad_lanes))) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  batch_t *batch = calloc(1, sizeof *batch);
  if (batch == NULL || (count > 0 && (batch->jobs = calloc(count, sizeof(job_t))) == NULL)) {
    free(batch);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < count; i++) {
    batch->count = i + 1; /* job i's bytes are NULL or its own: free() takes both */
    if (!copy_check(env, &argv[2], (uint32_t)i, curves[i], hashes[i], &batch->jobs[i])) {
      batch_free(batch);
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
  }
  napi_value promise, name;
  napi_create_promise(env, &batch->deferred, &promise);
  if (lanes != NULL) {
    if (!lanes_give(env, lanes, KIND_VERIFY, batch)) {
      reject_batch(env, batch->deferred, LANES_CLOSED);
      batch_free(batch);
    }
    return promise;
  }
  napi_create_string_utf8(env, "fedbroker:ecdsa-verify", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, batch_execute, batch_complete, batch, &batch->work);
  napi_queue_async_work(env, batch->work);
  return promise;
}

/* ---- Verify, then sign: one thread-pool work item per batch checks each CSR and, only where the
 * check passes, signs that request's TBSCertificate with the CA's EC key (issue 20: the signature
 * leaves the main thread with the check, at no extra hop). */

/* A CA signing key: its EC_KEY, made once from PKCS#8 DER and freed with its JavaScript handle.
 * ECDSA_sign only reads the key, so the pool's threads may sign with it at the same time. */
typedef struct {
  EC_KEY *key;
} signing_key_t;

static void signing_key_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  signing_key_t *handle = data;
  EC_KEY_free(handle->key);
  free(handle);
}

/* signingKey(pkcs8Der: Uint8Array) -> handle: an EC private key only (P-256, P-384, P-521). The
 * caller wipes its copy of the DER; the key stays in this addon's memory, never in JavaScript's. */
static napi_value signing_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  const unsigned char *der;
  size_t der_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      !bytes_of(env, argv[0], &der, &der_length, 16384)) {
    napi_throw_type_error(env, NULL, "signingKey(pkcs8Der) takes a Uint8Array");
    return NULL;
  }
  const unsigned char *p = der;
  EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &p, (long)der_length);
  EC_KEY *key = pkey == NULL ? NULL : EVP_PKEY_get1_EC_KEY(pkey);
  EVP_PKEY_free(pkey);
  int nid = key == NULL ? NID_undef : EC_GROUP_get_curve_name(EC_KEY_get0_group(key));
  if (key == NULL || EC_KEY_get0_private_key(key) == NULL ||
      (nid != CURVE_NIDS[0] && nid != CURVE_NIDS[1] && nid != CURVE_NIDS[2])) {
    EC_KEY_free(key);
    napi_throw_type_error(env, NULL, "signingKey takes a PKCS#8 EC private key of P-256, P-384 or P-521");
    return NULL;
  }
  signing_key_t *handle = malloc(sizeof *handle);
  napi_value result;
  if (handle == NULL) {
    EC_KEY_free(key);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  handle->key = key;
  if (napi_create_external(env, handle, signing_key_free, NULL, &result) != napi_ok) {
    signing_key_free(env, handle, NULL);
    napi_throw_error(env, NULL, "cannot make a signing key handle");
    return NULL;
  }
  if (napi_type_tag_object(env, result, &KEY_TAG) != napi_ok) {
    napi_throw_error(env, NULL, "cannot make a signing key handle");
    return NULL; /* the external is collected with its key */
  }
  return result;
}

typedef struct {
  job_t check;
  int sign_hash;
  size_t tbs_length;
  unsigned char *tbs;
  unsigned char *signature; /* ECDSA_size bytes, DER ECDSA-Sig-Value */
  unsigned int signature_length;
} sign_job_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref key_ref; /* keeps the key alive until the batch is done */
  EC_KEY *key;
  size_t count;
  sign_job_t *jobs;
} sign_batch_t;

static void sign_batch_free(napi_env env, sign_batch_t *batch) {
  for (size_t i = 0; i < batch->count; i++) {
    free(batch->jobs[i].check.bytes);
    free(batch->jobs[i].tbs);
    free(batch->jobs[i].signature);
  }
  free(batch->jobs);
  /* Without an env (the environment is going away) the reference goes with it. */
  if (env != NULL && batch->key_ref != NULL) napi_delete_reference(env, batch->key_ref);
  free(batch);
}

/* Result codes beyond check()'s: the check passed but signing failed. */
enum { RESULT_SIGN_FAILED = -2 };

static void sign_batch_execute(napi_env env, void *data) {
  (void)env;
  sign_batch_t *batch = data;
  for (size_t i = 0; i < batch->count; i++) {
    sign_job_t *job = &batch->jobs[i];
    job->check.result = run_check(&job->check);
    if (job->check.result != RESULT_VALID) continue;
    unsigned char md[SHA512_DIGEST_LENGTH];
    unsigned int md_length = 0;
    int size = ECDSA_size(batch->key);
    job->signature = size > 0 ? malloc((size_t)size) : NULL;
    if (job->signature == NULL || !digest(job->sign_hash, job->tbs, job->tbs_length, md, &md_length) ||
        ECDSA_sign(0, md, (int)md_length, job->signature, &job->signature_length, batch->key) != 1) {
      job->check.result = RESULT_SIGN_FAILED;
    }
  }
}

/* The answers of a signing batch as an array, or NULL when it could not be made. */
static napi_value sign_results(napi_env env, sign_batch_t *batch) {
  napi_value results;
  if (napi_create_array_with_length(env, batch->count, &results) != napi_ok) return NULL;
  for (size_t i = 0; i < batch->count; i++) {
    sign_job_t *job = &batch->jobs[i];
    napi_value item;
    void *out = NULL;
    napi_status made = job->check.result == RESULT_VALID
                           ? napi_create_buffer_copy(env, job->signature_length, job->signature,
                                                     &out, &item)
                           : napi_create_int32(env, job->check.result, &item);
    if (made != napi_ok || napi_set_element(env, results, (uint32_t)i, item) != napi_ok) return NULL;
  }
  return results;
}

static void sign_batch_complete(napi_env env, napi_status status, void *data) {
  sign_batch_t *batch = data;
  napi_value results = status == napi_ok ? sign_results(env, batch) : NULL;
  if (status != napi_ok) reject_batch(env, batch->deferred, "the ecdsa batch was cancelled");
  else if (results == NULL) reject_batch(env, batch->deferred, "the ecdsa batch's answer could not be made");
  else napi_resolve_deferred(env, batch->deferred, results);
  if (batch->work != NULL) napi_delete_async_work(env, batch->work);
  sign_batch_free(env, batch);
}

/* verifyThenSignBatch(key, curves, hashes, points, datas, signatures, signHashes, tbsList, lanes?)
 * -> Promise<Array<Buffer | number>>, on the libuv pool or on `lanes` when given: per request the
 * CA's signature over its TBSCertificate when the CSR check passes, else the check's result (0 does not verify, -1 not a point of the curve,
 * -2 signing failed). Every request of a batch is signed with the same key. */
static napi_value verify_then_sign_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  const unsigned char *curves, *hashes, *sign_hashes;
  size_t count = 0, hash_count = 0, sign_hash_count = 0;
  signing_key_t *handle = NULL;
  napi_valuetype key_type = napi_undefined;
  bool key_tagged = false;
  int bad_lanes = 0;
  lanes_t *lanes = NULL;
  const char *usage = "verifyThenSignBatch(key, curves, hashes, points, datas, signatures, "
                      "signHashes, tbsList, lanes?) takes a signing key, three Uint8Arrays, four "
                      "arrays of Uint8Arrays of the same length and optionally a handle from "
                      "createLanes";
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 8 ||
      napi_typeof(env, argv[0], &key_type) != napi_ok || key_type != napi_external ||
      napi_check_object_type_tag(env, argv[0], &KEY_TAG, &key_tagged) != napi_ok || !key_tagged ||
      napi_get_value_external(env, argv[0], (void **)&handle) != napi_ok || handle == NULL ||
      !bytes_of(env, argv[1], &curves, &count, 4096) ||
      !bytes_of(env, argv[2], &hashes, &hash_count, 4096) || hash_count != count ||
      !bytes_of(env, argv[6], &sign_hashes, &sign_hash_count, 4096) || sign_hash_count != count ||
      (argc > 8 && ((lanes = lanes_of(env, argv[8], &bad_lanes)), bad_lanes))) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  sign_batch_t *batch = calloc(1, sizeof *batch);
  if (batch == NULL || (count > 0 && (batch->jobs = calloc(count, sizeof(sign_job_t))) == NULL)) {
    free(batch);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  batch->key = handle->key;
  for (size_t i = 0; i < count; i++) {
    sign_job_t *job = &batch->jobs[i];
    const unsigned char *tbs = NULL;
    size_t tbs_length = 0;
    napi_value item;
    batch->count = i + 1; /* job i's buffers are NULL or its own: free() takes both */
    int ok = copy_check(env, &argv[3], (uint32_t)i, curves[i], hashes[i], &job->check) &&
             napi_get_element(env, argv[7], (uint32_t)i, &item) == napi_ok &&
             bytes_of(env, item, &tbs, &tbs_length, MAX_JOB_BYTES) &&
             (job->tbs = malloc(tbs_length + 1)) != NULL;
    if (!ok) {
      sign_batch_free(env, batch);
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
    job->sign_hash = sign_hashes[i];
    job->tbs_length = tbs_length;
    memcpy(job->tbs, tbs, tbs_length);
  }
  napi_value promise, name;
  if (napi_create_reference(env, argv[0], 1, &batch->key_ref) != napi_ok) {
    sign_batch_free(env, batch);
    napi_throw_error(env, NULL, "cannot hold the signing key");
    return NULL;
  }
  napi_create_promise(env, &batch->deferred, &promise);
  if (lanes != NULL) {
    if (!lanes_give(env, lanes, KIND_SIGN, batch)) {
      reject_batch(env, batch->deferred, LANES_CLOSED);
      sign_batch_free(env, batch);
    }
    return promise;
  }
  napi_create_string_utf8(env, "fedbroker:ecdsa-verify-sign", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, sign_batch_execute, sign_batch_complete, batch,
                         &batch->work);
  napi_queue_async_work(env, batch->work);
  return promise;
}

/* ---- Lanes: a CA's own signing threads (createLanes). Batches wait in one FIFO queue; each
 * thread takes the oldest, runs it as a pool work item would, and hands it back to the main thread
 * through a thread-safe function, whose call runs the same completion. The queue keeps the threads
 * busy while work is waiting (a batch never waits for the main thread to hand over the next one),
 * and their number is the CA's to choose (ca.csrCheckWorkers). The threads are joined on close
 * (after the batch each holds; the queued rest is refused), when the environment goes away (a
 * worker thread), when the handle is collected, and at exit (before OpenSSL's own cleanup). */

typedef struct queued {
  struct queued *next;
  int kind;
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
    if (item->kind == KIND_VERIFY) batch_execute(NULL, item->batch);
    else sign_batch_execute(NULL, item->batch);
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

/* Frees a queued batch unanswered (without an env: its key reference goes with the environment). */
static void queued_free(napi_env env, queued_t *item) {
  if (item->kind == KIND_VERIFY) batch_free(item->batch);
  else sign_batch_free(env, item->batch);
  free(item);
}

/* On the main thread: the batch's completion, as after a pool work item. */
static void lane_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  lanes_t *lanes = context;
  queued_t *item = data;
  if (env == NULL) { /* the environment is going away: nothing to answer */
    queued_free(NULL, item);
    return;
  }
  if (item->kind == KIND_VERIFY) batch_complete(env, napi_ok, item->batch);
  else sign_batch_complete(env, napi_ok, item->batch);
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
    if (mode == STOP_REFUSE) {
      reject_batch(env, item->kind == KIND_VERIFY ? ((batch_t *)item->batch)->deferred
                                                  : ((sign_batch_t *)item->batch)->deferred,
                   LANES_CLOSED);
    }
    queued_free(mode == STOP_DROP ? NULL : env, item);
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

/* Queues a batch on `lanes`; 0 when the lanes are closed or memory runs out. */
static int lanes_give(napi_env env, lanes_t *lanes, int kind, void *batch) {
  if (lanes->stopped) return 0;
  queued_t *item = malloc(sizeof *item);
  if (item == NULL) return 0;
  item->next = NULL;
  item->kind = kind;
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

/* The lanes of argument `value`: NULL when it is undefined (the libuv pool), `bad` set when it is
 * anything but a lanes handle. */
static lanes_t *lanes_of(napi_env env, napi_value value, int *bad) {
  napi_valuetype type = napi_undefined;
  void *data = NULL;
  *bad = 0;
  if (napi_typeof(env, value, &type) != napi_ok || type == napi_undefined) return NULL;
  bool tagged = false;
  if (type != napi_external || napi_check_object_type_tag(env, value, &LANES_TAG, &tagged) != napi_ok ||
      !tagged || napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    *bad = 1;
    return NULL;
  }
  return data;
}

/* createLanes(threads: 1..64) -> handle: that many signing threads of the caller's own. */
static napi_value create_lanes(napi_env env, napi_callback_info info) {
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
static napi_value close_lanes(napi_env env, napi_callback_info info) {
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

static void make_groups(void) {
  for (int i = 0; i < 3; i++) groups[i] = EC_GROUP_new_by_curve_name(CURVE_NIDS[i]);
  KEY_TAG.upper = 0x9c1e0f4b7a2d3e51ULL ^ (uint64_t)(uintptr_t)&live;
  LANES_TAG.upper = 0x4d8b2a61c03f7e92ULL ^ (uint64_t)(uintptr_t)&live;
  /* Node set up OpenSSL (and its atexit cleanup) before any addon loads: this runs before it. */
  atexit(lanes_at_exit);
}

static napi_value init(napi_env env, napi_value exports) {
  /* Module init runs on each thread that loads the addon; the groups are made once and kept. */
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, make_groups);
  napi_value fn;
  napi_create_function(env, "verify", NAPI_AUTO_LENGTH, verify, NULL, &fn);
  napi_set_named_property(env, exports, "verify", fn);
  napi_create_function(env, "verifyBatch", NAPI_AUTO_LENGTH, verify_batch, NULL, &fn);
  napi_set_named_property(env, exports, "verifyBatch", fn);
  napi_create_function(env, "signingKey", NAPI_AUTO_LENGTH, signing_key, NULL, &fn);
  napi_set_named_property(env, exports, "signingKey", fn);
  napi_create_function(env, "verifyThenSignBatch", NAPI_AUTO_LENGTH, verify_then_sign_batch, NULL,
                       &fn);
  napi_set_named_property(env, exports, "verifyThenSignBatch", fn);
  napi_create_function(env, "createLanes", NAPI_AUTO_LENGTH, create_lanes, NULL, &fn);
  napi_set_named_property(env, exports, "createLanes", fn);
  napi_create_function(env, "closeLanes", NAPI_AUTO_LENGTH, close_lanes, NULL, &fn);
  napi_set_named_property(env, exports, "closeLanes", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
