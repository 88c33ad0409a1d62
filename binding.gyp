# Native addons, built by `npm ci` with npm's node-gyp against the installed Node headers:
# peercred: SO_PEERCRED for the Workload API's kernel attestation (native/peercred.c);
# ecverify: CSR ECDSA checks (and, for a busy CA, the leaf's ECDSA signature) on Node's own OpenSSL
# for the CA's issuing path (native/ecverify.c), on the CA's own signing threads (native/lanes.c).
{
  "targets": [
    {
      "target_name": "peercred",
      "sources": ["native/peercred.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "ecverify",
      "sources": ["native/ecverify.c", "native/lanes.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
