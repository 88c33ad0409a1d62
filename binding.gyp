# peercred: SO_PEERCRED for the Workload API's kernel attestation (native/peercred.c).
{
  "targets": [
    {
      "target_name": "peercred",
      "sources": ["native/peercred.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
