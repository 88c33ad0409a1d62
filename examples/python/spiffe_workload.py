#!/usr/bin/env python3
"""A SPIFFE workload in Python that speaks only the Workload API of `fedbroker agent serve`.

It uses grpcio (gRPC's C core, not the broker's grpc-js) with stubs generated from the published
workload.proto, Python's own TLS (OpenSSL through the ssl module) and PyJWT. Debian:
  apt-get install python3-grpcio python3-grpc-tools python3-cryptography python3-jwt
  python3 -m grpc_tools.protoc -I src/workload/proto --python_out=STUBS \
      --grpc_python_out=STUBS workload.proto
  export SPIFFE_ENDPOINT_SOCKET=unix:///run/spiffe/agent.sock
  python3 examples/python/spiffe_workload.py check --stubs STUBS --audience reports
  python3 examples/python/spiffe_workload.py serve --stubs STUBS --peer-id spiffe://partner.example/app
  python3 examples/python/spiffe_workload.py dial --stubs STUBS --port 8443 --peer-id spiffe://...

check prints one JSON object: the X509-SVID it got (one URI SAN equal to its SPIFFE ID, the key
matches the leaf), an mTLS handshake between two of its own sockets, a JWT-SVID checked locally
against its trust domain's JWT bundle and by ValidateJWTSVID, and the status codes of two calls the
agent must refuse. serve and dial make one mTLS connection with a peer, trusting only the bundle of
the peer's own trust domain (ours, or the federated bundle the agent sent for it) and accepting
only --peer-id. test/workload/sdk-federated.test.ts runs all three against real brokers and node
agents of two federated trust domains.
"""
import argparse
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time

import grpc
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

HEADER = (("workload.spiffe.io", "true"),)
TIMEOUT_S = 30


def endpoint():
    """The gRPC target from SPIFFE_ENDPOINT_SOCKET (unix:///path, or tcp://host:port)."""
    value = os.environ.get("SPIFFE_ENDPOINT_SOCKET", "")
    if value.startswith("unix://"):
        return "unix:" + value[len("unix://"):]
    if value.startswith("tcp://"):
        return value[len("tcp://"):]
    raise SystemExit("SPIFFE_ENDPOINT_SOCKET must be unix:///path or tcp://host:port")


def split_der(blob):
    """Concatenated DER certificates (the Workload API's chain and bundle fields), one by one."""
    certs, at = [], 0
    while at < len(blob):
        if blob[at] != 0x30 or at + 2 > len(blob):
            raise ValueError("not a DER certificate")
        first = blob[at + 1]
        if first < 0x80:
            header, length = 2, first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or at + 2 + count > len(blob):
                raise ValueError("bad DER length")
            header, length = 2 + count, int.from_bytes(blob[at + 2:at + 2 + count], "big")
        end = at + header + length
        if end > len(blob):
            raise ValueError("truncated DER certificate")
        certs.append(x509.load_der_x509_certificate(blob[at:end]))
        at = end
    return certs


def uri_sans(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.UniformResourceIdentifier)


def pem(certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def fetch_x509(pb, stub, want=None):
    """The default SVID (the first), or the one for `want`; with its key and the bundles."""
    for attempt in range(40):
        stream = stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=HEADER, timeout=TIMEOUT_S)
        try:
            response = next(stream)
            break
        except grpc.RpcError as error:
            # The agent has no state yet (just started): retry, as the Workload API spec asks.
            if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == 39:
                raise
            time.sleep(0.25 * min(attempt + 1, 8))
        finally:
            stream.cancel()
    svids = [s for s in response.svids if want is None or s.spiffe_id == want]
    if not svids:
        raise SystemExit(f"no SVID for {want}; got {[s.spiffe_id for s in response.svids]}")
    svid = svids[0]
    chain = split_der(svid.x509_svid)
    key = serialization.load_der_private_key(svid.x509_svid_key, password=None)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    key_matches = key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ) == chain[0].public_key().public_bytes(serialization.Encoding.DER, public)
    bundles = {td: split_der(der) for td, der in response.federated_bundles.items()}
    return {
        "spiffe_id": svid.spiffe_id,
        "all ids": [s.spiffe_id for s in response.svids],
        "chain": chain,
        "key": key,
        "bundle": split_der(svid.bundle),
        "federated": bundles,
        "key matches leaf": key_matches,
    }


def write_credentials(directory, x509_svid, bundle):
    """PEM files for the ssl module: chain and key (0600), and the one bundle to trust."""
    paths = {name: os.path.join(directory, name) for name in ("svid.pem", "key.pem", "bundle.pem")}
    key_pem = x509_svid["key"].private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    files = (("svid.pem", pem(x509_svid["chain"])), ("key.pem", key_pem), ("bundle.pem", pem(bundle)))
    for name, data in files:
        fd = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    return paths


def trust_domain_of(spiffe_id):
    return "spiffe://" + spiffe_id[len("spiffe://"):].split("/", 1)[0]


def bundle_for(x509_svid, peer):
    """The bundle of the peer's own trust domain, and no other (never a pooled root set)."""
    peer_td = trust_domain_of(peer)
    if peer_td == trust_domain_of(x509_svid["spiffe_id"]):
        return x509_svid["bundle"]
    if peer_td not in x509_svid["federated"]:
        raise SystemExit(f"no bundle for {peer_td}: not federated with this workload's entry")
    return x509_svid["federated"][peer_td]


def tls_context(server, paths):
    """Presents the SVID, trusts only one bundle; the peer's SPIFFE ID is checked after the handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not server:
        context.check_hostname = False  # SPIFFE authorises by URI SAN, not by host name
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(paths["svid.pem"], paths["key.pem"])
    context.load_verify_locations(paths["bundle.pem"])
    return context


def is_ca(cert):
    """An X509-SVID leaf is not a CA and cannot sign certificates or CRLs."""
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        return usage.key_cert_sign or usage.crl_sign
    except x509.ExtensionNotFound:
        return False


def peer_id(tls_socket):
    """The peer's SPIFFE ID: its leaf's one URI SAN; None for anything else, or a CA leaf."""
    leaf = x509.load_der_x509_certificate(tls_socket.getpeercert(binary_form=True))
    sans = uri_sans(leaf)
    return sans[0] if len(sans) == 1 and not is_ca(leaf) else None


def serve_once(listener, paths, peer, own_id):
    """Accepts one mTLS connection: a peer other than `peer` is told nothing."""
    conn, _ = listener.accept()
    with tls_context(True, paths).wrap_socket(conn, server_side=True) as tls:
        seen = peer_id(tls)
        if seen == peer:
            tls.sendall(f"hello from {own_id}".encode())
        return seen


def dial(port, paths, peer):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw:
        with tls_context(False, paths).wrap_socket(raw) as tls:
            seen = peer_id(tls)
            if seen != peer:
                return {"server": seen, "reply": None}
            return {"server": seen, "reply": tls.recv(256).decode()}


def mtls_round_trip(paths, own_id):
    """A server and a client in this process, both with the SVID: each must see the other's ID."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen = {}

    def serve():
        seen["server saw"] = serve_once(listener, paths, own_id, own_id)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    seen["client"] = dial(listener.getsockname()[1], paths, own_id)
    thread.join(TIMEOUT_S)
    listener.close()
    return seen


def jwt_svid(pb, stub, spiffe_id, audience):
    response = stub.FetchJWTSVID(
        pb.JWTSVIDRequest(audience=[audience], spiffe_id=spiffe_id),
        metadata=HEADER,
        timeout=TIMEOUT_S,
    )
    token = response.svids[0].svid
    stream = stub.FetchJWTBundles(pb.JWTBundlesRequest(), metadata=HEADER, timeout=TIMEOUT_S)
    bundles = next(stream).bundles
    stream.cancel()
    trust_domain = "spiffe://" + spiffe_id[len("spiffe://"):].split("/", 1)[0]
    header = jwt.get_unverified_header(token)
    keys = json.loads(bundles[trust_domain])["keys"]
    jwk = next(k for k in keys if k.get("kid") == header.get("kid"))
    claims = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=[header["alg"]], audience=audience
    )
    validated = stub.ValidateJWTSVID(
        pb.ValidateJWTSVIDRequest(audience=audience, svid=token),
        metadata=HEADER,
        timeout=TIMEOUT_S,
    )
    return {
        "alg": header["alg"],
        "sub": claims["sub"],
        "validated": validated.spiffe_id,
        "wrong audience": status_of(
            lambda: stub.ValidateJWTSVID(
                pb.ValidateJWTSVIDRequest(audience=audience + "-other", svid=token),
                metadata=HEADER,
                timeout=TIMEOUT_S,
            )
        ),
    }


def status_of(call):
    try:
        call()
        return "OK"
    except grpc.RpcError as error:
        return error.code().name


def check(pb, stub, x509_svid, audience):
    """The workload's own view: its SVID, an mTLS round trip with itself, a JWT-SVID, refusals."""
    result = {
        "spiffe_id": x509_svid["spiffe_id"],
        "all ids": x509_svid["all ids"],
        "leaf uri sans": uri_sans(x509_svid["chain"][0]),
        "chain length": len(x509_svid["chain"]),
        "key matches leaf": x509_svid["key matches leaf"],
        "federated": sorted(x509_svid["federated"]),
    }
    with tempfile.TemporaryDirectory() as directory:
        paths = write_credentials(directory, x509_svid, x509_svid["bundle"])
        result["mtls"] = mtls_round_trip(paths, x509_svid["spiffe_id"])
    result["jwt"] = jwt_svid(pb, stub, x509_svid["spiffe_id"], audience)
    result["no header"] = status_of(
        lambda: stub.FetchJWTSVID(pb.JWTSVIDRequest(audience=[audience]), timeout=TIMEOUT_S)
    )
    result["no audience"] = status_of(
        lambda: stub.FetchJWTSVID(pb.JWTSVIDRequest(), metadata=HEADER, timeout=TIMEOUT_S)
    )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("check", "serve", "dial"))
    parser.add_argument("--stubs", required=True, help="directory of workload_pb2*.py")
    parser.add_argument("--spiffe-id", help="which of the caller's SVIDs to use (default: first)")
    parser.add_argument("--peer-id", help="serve/dial: the only SPIFFE ID to accept")
    parser.add_argument("--port", type=int, help="dial: the server's port on 127.0.0.1")
    parser.add_argument("--audience", default="reports")
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    import workload_pb2 as pb  # noqa: E402 (generated from the published proto)
    import workload_pb2_grpc as pb_grpc  # noqa: E402

    with grpc.insecure_channel(endpoint()) as channel:
        stub = pb_grpc.SpiffeWorkloadAPIStub(channel)
        x509_svid = fetch_x509(pb, stub, args.spiffe_id)
        if args.mode == "check":
            print(json.dumps(check(pb, stub, x509_svid, args.audience), sort_keys=True))
            return
    with tempfile.TemporaryDirectory() as directory:
        paths = write_credentials(directory, x509_svid, bundle_for(x509_svid, args.peer_id))
        if args.mode == "dial":
            print(json.dumps(dial(args.port, paths, args.peer_id), sort_keys=True))
            return
        with socket.create_server(("127.0.0.1", 0)) as listener:
            print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
            seen = serve_once(listener, paths, args.peer_id, x509_svid["spiffe_id"])
            print(json.dumps({"client": seen}), flush=True)


if __name__ == "__main__":
    main()
