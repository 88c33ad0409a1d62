/* ecverify: a Node-API addon that checks a CSR's ECDSA signature (proof of possession) with the
 * OpenSSL that Node itself carries (its exported libcrypto symbols), through the EC_KEY/ECDSA calls
 * instead of an EVP_PKEY. Node's own path builds a legacy key and exports it to a provider key on
 * first use, which costs more than the verification; here the point is decoded into an EC_KEY of a
 * shared named group and ECDSA_verify runs on it. Same checks: the point must lie on the curve
 * (EC_POINT_oct2point) and the signature must be strict DER (ECDSA_verify re-encodes and compares).
 * For a busy CA a batch may also carry each request's TBSCertificate: the addon signs it with the CA's
 * EC key (ECDSA_sign on an EC_KEY made once from PKCS#8 DER, freed with its handle) only where the
 * check passed, so the check and the signature leave the main thread in one work item.
 * A CA may give its batches to threads of its own (lanes.c: createLanes) instead of the libuv
 * thread pool: exactly as many as it has cores to spare, working through one queue, so the checks
 * never crowd the event loop off its core nor wait behind the file writes the pool also runs.
 * Built by `npm ci` (binding.gyp, nodedir /usr, nothing downloaded); src/ca/native-ecdsa.ts falls
 * back to node:crypto when it is missing. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lanes.h" /* node_api.h, with type tags */
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

/* A signing key handle's tag (an external is otherwise any pointer; lanes.c tags its own). The
 * second word is this copy of the addon's own (make_groups), as for the lanes. */
static napi_type_tag KEY_TAG = {0x6665646b65790001ULL, 0};

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

/* A verify batch on the CA's signing threads (lanes.c): run, answer, refuse, or free unanswered. */
static void verify_run(void *batch) { batch_execute(NULL, batch); }
static void verify_answer(napi_env env, void *batch) { batch_complete(env, napi_ok, batch); }
static void verify_refuse(napi_env env, void *batch, const char *why) {
  reject_batch(env, ((batch_t *)batch)->deferred, why);
  batch_free(batch);
}
static void verify_drop(napi_env env, void *batch) {
  (void)env;
  batch_free(batch);
}
static const lane_ops_t VERIFY_OPS = {verify_run, verify_answer, verify_refuse, verify_drop};

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
    if (!lanes_give(env, lanes, &VERIFY_OPS, batch)) {
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

/* A verify-then-sign batch on the CA's signing threads, as VERIFY_OPS. */
static void sign_run(void *batch) { sign_batch_execute(NULL, batch); }
static void sign_answer(napi_env env, void *batch) { sign_batch_complete(env, napi_ok, batch); }
static void sign_refuse(napi_env env, void *batch, const char *why) {
  reject_batch(env, ((sign_batch_t *)batch)->deferred, why);
  sign_batch_free(env, batch);
}
static void sign_drop(napi_env env, void *batch) { sign_batch_free(env, batch); }
static const lane_ops_t SIGN_OPS = {sign_run, sign_answer, sign_refuse, sign_drop};

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
    if (!lanes_give(env, lanes, &SIGN_OPS, batch)) {
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

static void make_groups(void) {
  for (int i = 0; i < 3; i++) groups[i] = EC_GROUP_new_by_curve_name(CURVE_NIDS[i]);
  KEY_TAG.upper = 0x9c1e0f4b7a2d3e51ULL ^ (uint64_t)(uintptr_t)&groups;
  lanes_init_once(); /* the lanes' tag, and their exit handler */
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
