/* ecverify: a Node-API addon that checks a CSR's ECDSA signature (proof of possession) with the
 * OpenSSL that Node itself carries (its exported libcrypto symbols), through the EC_KEY/ECDSA calls
 * instead of an EVP_PKEY. Node's own path builds a legacy key and exports it to a provider key on
 * first use, which costs more than the verification; here the point is decoded into an EC_KEY of a
 * shared named group and ECDSA_verify runs on it. Same checks: the point must lie on the curve
 * (EC_POINT_oct2point) and the signature must be strict DER (ECDSA_verify re-encodes and compares).
 * Built by `npm ci` (binding.gyp, nodedir /usr, nothing downloaded); src/ca/native-ecdsa.ts falls
 * back to node:crypto when it is missing. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

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

static void batch_free(batch_t *batch) {
  for (size_t i = 0; i < batch->count; i++) free(batch->jobs[i].bytes);
  free(batch->jobs);
  free(batch);
}

static void batch_execute(napi_env env, void *data) {
  (void)env;
  batch_t *batch = data;
  for (size_t i = 0; i < batch->count; i++) {
    job_t *job = &batch->jobs[i];
    const unsigned char *p = job->bytes;
    job->result = check(job->curve, job->hash, p, job->point_length, p + job->point_length,
                        job->data_length, p + job->point_length + job->data_length,
                        job->sig_length);
  }
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  batch_t *batch = data;
  napi_value results;
  if (status == napi_ok) {
    napi_value buffer;
    void *out = NULL;
    napi_create_arraybuffer(env, batch->count, &out, &buffer);
    for (size_t i = 0; i < batch->count; i++) ((signed char *)out)[i] = (signed char)batch->jobs[i].result;
    napi_create_typedarray(env, napi_int8_array, batch->count, buffer, 0, &results);
    napi_resolve_deferred(env, batch->deferred, results);
  } else {
    napi_value message, error;
    napi_create_string_utf8(env, "the ecdsa batch was cancelled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, batch->deferred, error);
  }
  napi_delete_async_work(env, batch->work);
  batch_free(batch);
}

/* verifyBatch(curves: Uint8Array, hashes: Uint8Array, points, datas, signatures: Uint8Array[])
 * -> Promise<Int8Array>: the checks run on the libuv thread pool, one work item per batch. */
static napi_value verify_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  const unsigned char *curves, *hashes;
  size_t count = 0, hash_count = 0;
  const char *usage = "verifyBatch(curves, hashes, points, datas, signatures) takes two Uint8Arrays "
                      "and three arrays of Uint8Arrays of the same length";
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      !bytes_of(env, argv[0], &curves, &count, 4096) ||
      !bytes_of(env, argv[1], &hashes, &hash_count, 4096) || hash_count != count) {
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
    napi_value items[3];
    const unsigned char *parts[3];
    size_t lengths[3];
    int ok = 1;
    for (int k = 0; k < 3 && ok; k++) {
      ok = napi_get_element(env, argv[2 + k], (uint32_t)i, &items[k]) == napi_ok &&
           bytes_of(env, items[k], &parts[k], &lengths[k], MAX_JOB_BYTES);
    }
    ok = ok && lengths[0] + lengths[1] + lengths[2] <= MAX_JOB_BYTES;
    job_t *job = &batch->jobs[i];
    if (ok) job->bytes = malloc(lengths[0] + lengths[1] + lengths[2] + 1);
    if (!ok || job->bytes == NULL) {
      batch->count = i + 1; /* job i's bytes are NULL or its own: free() takes both */
      batch_free(batch);
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
    batch->count = i + 1;
    job->curve = curves[i];
    job->hash = hashes[i];
    job->point_length = lengths[0];
    job->data_length = lengths[1];
    job->sig_length = lengths[2];
    memcpy(job->bytes, parts[0], lengths[0]);
    memcpy(job->bytes + lengths[0], parts[1], lengths[1]);
    memcpy(job->bytes + lengths[0] + lengths[1], parts[2], lengths[2]);
  }
  napi_value promise, name;
  napi_create_promise(env, &batch->deferred, &promise);
  napi_create_string_utf8(env, "fedbroker:ecdsa-verify", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, batch_execute, batch_complete, batch, &batch->work);
  napi_queue_async_work(env, batch->work);
  return promise;
}

static void make_groups(void) {
  for (int i = 0; i < 3; i++) groups[i] = EC_GROUP_new_by_curve_name(CURVE_NIDS[i]);
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
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
