// The three modes of spiffe_workload.go: check (its own SVID, an mTLS round trip with itself, a
// JWT-SVID, refusals), serve and dial (one mTLS connection with a peer).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc/status"

	"spiffeworkload/workload"
)

func statusOf(err error) string {
	if err == nil {
		return "OK"
	}
	return status.Code(err).String()
}

func check(ctx context.Context, client workload.SpiffeWorkloadAPIClient, set *svidSet, audience string) error {
	result := map[string]any{"spiffe_id": set.id, "all ids": set.all, "chain length": len(set.chain)}
	chain := make([][]byte, len(set.chain))
	for i, cert := range set.chain {
		chain[i] = cert.Raw
	}
	// Go's crypto/x509 verifies our own SVID against our trust domain's bundle.
	if _, err := set.verifyPeer(chain, set.id); err != nil {
		result["x509 verify"] = err.Error()
	} else {
		result["x509 verify"] = "ok"
	}
	mtls, err := roundTrip(set)
	if err != nil {
		return err
	}
	result["mtls"] = mtls
	jwt, err := checkJwt(ctx, client, set, audience)
	if err != nil {
		return err
	}
	result["jwt"] = jwt
	_, err = client.FetchJWTSVID(ctx, &workload.JWTSVIDRequest{Audience: []string{audience}})
	result["no header"] = statusOf(err)
	_, err = client.FetchJWTSVID(withHeader(ctx), &workload.JWTSVIDRequest{})
	result["no audience"] = statusOf(err)
	printJSON(result)
	return nil
}

func checkJwt(ctx context.Context, client workload.SpiffeWorkloadAPIClient, set *svidSet, audience string) (map[string]any, error) {
	fetched, err := client.FetchJWTSVID(withHeader(ctx), &workload.JWTSVIDRequest{Audience: []string{audience}, SpiffeId: set.id})
	if err != nil {
		return nil, err
	}
	token := fetched.Svids[0].Svid
	stream, err := client.FetchJWTBundles(withHeader(ctx), &workload.JWTBundlesRequest{})
	if err != nil {
		return nil, err
	}
	bundles, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	var jwks struct{ Keys []map[string]string }
	if err := json.Unmarshal(bundles.Bundles[set.ownDomain], &jwks); err != nil {
		return nil, fmt.Errorf("JWT bundle of %s: %w", set.ownDomain, err)
	}
	claims, err := verifyJwt(token, jwks.Keys, audience)
	if err != nil {
		return nil, err
	}
	validated, err := client.ValidateJWTSVID(withHeader(ctx), &workload.ValidateJWTSVIDRequest{Audience: audience, Svid: token})
	if err != nil {
		return nil, err
	}
	_, wrong := client.ValidateJWTSVID(withHeader(ctx), &workload.ValidateJWTSVIDRequest{Audience: audience + "-other", Svid: token})
	return map[string]any{"sub": claims["sub"], "validated": validated.SpiffeId, "wrong audience": statusOf(wrong)}, nil
}

// roundTrip: a server and a client in this process, both with the SVID.
func roundTrip(set *svidSet) (map[string]any, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer listener.Close()
	served := make(chan string, 1)
	go func() {
		seen, _ := serveOnce(listener, set, set.id)
		served <- seen
	}()
	reply, seen, err := dialOnce(set, set.id, listener.Addr().(*net.TCPAddr).Port)
	if err != nil {
		return nil, err
	}
	return map[string]any{"client": map[string]any{"server": seen, "reply": reply}, "server saw": <-served}, nil
}

func serveOnce(listener net.Listener, set *svidSet, allowed string) (string, error) {
	conn, err := listener.Accept()
	if err != nil {
		return "", err
	}
	var seen string
	server := tls.Server(conn, set.tlsConfig(allowed, &seen))
	defer server.Close()
	if err := server.Handshake(); err != nil {
		return seen, err
	}
	_, err = fmt.Fprintf(server, "hello from %s", set.id)
	return seen, err
}

func dialOnce(set *svidSet, allowed string, port int) (string, string, error) {
	var seen string
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), set.tlsConfig(allowed, &seen))
	if err != nil {
		return "", seen, err
	}
	defer conn.Close()
	reply, err := io.ReadAll(io.LimitReader(conn, 256))
	return string(reply), seen, err
}

func serve(set *svidSet, peer string) error {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer listener.Close()
	printJSON(map[string]any{"port": listener.Addr().(*net.TCPAddr).Port})
	seen, err := serveOnce(listener, set, peer)
	if err != nil {
		printJSON(map[string]any{"client": seen, "error": err.Error()})
		return err
	}
	printJSON(map[string]any{"client": seen})
	return nil
}

func dial(set *svidSet, peer string, port int) error {
	reply, seen, err := dialOnce(set, peer, port)
	if err != nil {
		printJSON(map[string]any{"server": seen, "error": err.Error()})
		return err
	}
	printJSON(map[string]any{"server": seen, "reply": reply})
	return nil
}
