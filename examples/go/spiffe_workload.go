// A SPIFFE workload in Go that speaks only the Workload API of `fedbroker agent serve`, with
// grpc-go and stubs generated from the published workload.proto, and Go's own crypto/x509 and
// crypto/tls (what go-spiffe and SPIRE build on). Most Go services should use go-spiffe; this
// program shows the few steps underneath, and the tests run it to prove that Go's verifier accepts
// what the broker issues.
//
// Peers are checked the SPIFFE way: the peer's leaf names its trust domain (its one URI SAN), the
// chain is verified against that trust domain's bundle only (ours, or the federated bundle the
// agent sent for it), and then the SPIFFE ID must be the one expected.
//
//	export SPIFFE_ENDPOINT_SOCKET=unix:///run/spiffe/agent.sock
//	spiffe-workload check [-spiffe-id ID] [-audience reports]
//	spiffe-workload serve -peer-id spiffe://partner.example/app
//	spiffe-workload dial -port 8443 -peer-id spiffe://partner.example/app
//
// Build (Debian 12, offline, GOPATH mode, with protoc-gen-go 1.3 and protoc-gen-go-grpc): see
// goWorkload() in test/helpers/workload-programs.ts.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"spiffeworkload/workload"
)

type svidSet struct {
	id        string
	all       []string
	chain     []*x509.Certificate
	key       crypto.Signer
	bundles   map[string][]*x509.Certificate // trust domain ID ("spiffe://td") -> X.509 roots
	ownDomain string
}

func trustDomainOf(id string) (string, error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "spiffe" || u.Host == "" || u.Path == "" {
		return "", fmt.Errorf("%q is not a workload SPIFFE ID", id)
	}
	return "spiffe://" + u.Host, nil
}

func withHeader(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "workload.spiffe.io", "true")
}

func fetchX509(ctx context.Context, client workload.SpiffeWorkloadAPIClient, want string) (*svidSet, error) {
	var response *workload.X509SVIDResponse
	for attempt := 0; ; attempt++ {
		stream, err := client.FetchX509SVID(withHeader(ctx), &workload.X509SVIDRequest{})
		if err == nil {
			response, err = stream.Recv()
		}
		if err == nil {
			break
		}
		// The agent has no state yet (just started): retry, as the Workload API spec asks.
		if status.Code(err).String() != "Unavailable" || attempt == 39 {
			return nil, err
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	set := &svidSet{bundles: map[string][]*x509.Certificate{}}
	for _, svid := range response.Svids {
		set.all = append(set.all, svid.SpiffeId)
		if set.id != "" || (want != "" && svid.SpiffeId != want) {
			continue
		}
		chain, err := x509.ParseCertificates(svid.X509Svid)
		if err != nil {
			return nil, fmt.Errorf("x509_svid: %w", err)
		}
		key, err := x509.ParsePKCS8PrivateKey(svid.X509SvidKey)
		if err != nil {
			return nil, fmt.Errorf("x509_svid_key: %w", err)
		}
		roots, err := x509.ParseCertificates(svid.Bundle)
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		set.id, set.chain, set.key = svid.SpiffeId, chain, key.(crypto.Signer)
		if set.ownDomain, err = trustDomainOf(svid.SpiffeId); err != nil {
			return nil, err
		}
		set.bundles[set.ownDomain] = roots
	}
	if set.id == "" {
		return nil, fmt.Errorf("no SVID for %q; got %v", want, set.all)
	}
	for domain, der := range response.FederatedBundles {
		roots, err := x509.ParseCertificates(der)
		if err != nil {
			return nil, fmt.Errorf("federated_bundles[%s]: %w", domain, err)
		}
		set.bundles[domain] = roots
	}
	return set, nil
}

// verifyPeer checks a peer chain against the bundle of the trust domain its leaf names, and only
// that one (never a pool of every root), then the leaf's SPIFFE ID against `allowed`.
func (s *svidSet) verifyPeer(raw [][]byte, allowed string) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("peer sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return "", err
		}
		certs[i] = cert
	}
	leaf := certs[0]
	if len(leaf.URIs) != 1 {
		return "", errors.New("peer leaf must have exactly one URI SAN")
	}
	// An X509-SVID leaf is not a CA and cannot sign certificates or CRLs.
	if leaf.IsCA || leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
		return "", errors.New("peer leaf is a CA certificate")
	}
	id := leaf.URIs[0].String()
	domain, err := trustDomainOf(id)
	if err != nil {
		return "", err
	}
	roots, ok := s.bundles[domain]
	if !ok {
		return id, fmt.Errorf("no bundle for %s", domain)
	}
	pool, intermediates := x509.NewCertPool(), x509.NewCertPool()
	for _, root := range roots {
		pool.AddCert(root)
	}
	for _, cert := range certs[1:] {
		intermediates.AddCert(cert)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return id, err
	}
	if id != allowed {
		return id, fmt.Errorf("peer %s is not %s", id, allowed)
	}
	return id, nil
}

func (s *svidSet) tlsConfig(allowed string, seen *string) *tls.Config {
	chain := make([][]byte, len(s.chain))
	for i, cert := range s.chain {
		chain[i] = cert.Raw
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: s.key, Leaf: s.chain[0]}},
		ClientAuth:   tls.RequireAnyClientCert,
		// The chain is checked by VerifyPeerCertificate against the peer's own trust domain.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			id, err := s.verifyPeer(raw, allowed)
			*seen = id
			return err
		},
	}
}

func verifyJwt(token string, keys []map[string]string, audience string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	var header struct{ Alg, Kid, Typ string }
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, err
	}
	if header.Alg != "ES256" {
		return nil, fmt.Errorf("this example checks ES256 only, not %s", header.Alg)
	}
	for _, jwk := range keys {
		if jwk["kid"] != header.Kid || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
			continue
		}
		x, errX := base64.RawURLEncoding.DecodeString(jwk["x"])
		y, errY := base64.RawURLEncoding.DecodeString(jwk["y"])
		sig, errS := base64.RawURLEncoding.DecodeString(parts[2])
		if errX != nil || errY != nil || errS != nil || len(sig) != 64 {
			return nil, errors.New("bad key or signature encoding")
		}
		public := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if !ecdsa.Verify(public, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return nil, errors.New("signature does not verify")
		}
		var claims map[string]any
		if err := decodeSegment(parts[1], &claims); err != nil {
			return nil, err
		}
		exp, _ := claims["exp"].(float64)
		if time.Now().Unix() >= int64(exp) {
			return nil, errors.New("expired")
		}
		if !audienceHas(claims["aud"], audience) {
			return nil, errors.New("audience does not match")
		}
		return claims, nil
	}
	return nil, fmt.Errorf("no key %q in the bundle", header.Kid)
}

func audienceHas(aud any, want string) bool {
	switch value := aud.(type) {
	case string:
		return value == want
	case []any:
		for _, item := range value {
			if item == want {
				return true
			}
		}
	}
	return false
}

func decodeSegment(segment string, into any) error {
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

func printJSON(value any) {
	out, _ := json.Marshal(value)
	fmt.Println(string(out))
}

func endpoint() (string, error) {
	value := os.Getenv("SPIFFE_ENDPOINT_SOCKET")
	switch {
	case strings.HasPrefix(value, "unix://"):
		return "unix:" + strings.TrimPrefix(value, "unix://"), nil
	case strings.HasPrefix(value, "tcp://"):
		return strings.TrimPrefix(value, "tcp://"), nil
	}
	return "", errors.New("SPIFFE_ENDPOINT_SOCKET must be unix:///path or tcp://host:port")
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: spiffe-workload check|serve|dial [flags]")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	want := flags.String("spiffe-id", "", "which of the caller's SVIDs to use (default: first)")
	peer := flags.String("peer-id", "", "serve/dial: the only SPIFFE ID to accept")
	port := flags.Int("port", 0, "dial: the server's port on 127.0.0.1")
	audience := flags.String("audience", "reports", "check: the JWT-SVID audience")
	_ = flags.Parse(os.Args[2:])
	target, err := endpoint()
	if err == nil {
		err = run(os.Args[1], target, *want, *peer, *port, *audience)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "spiffe-workload:", err)
		os.Exit(1)
	}
}

func run(mode, target, want, peer string, port int, audience string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, target, grpc.WithInsecure())
	if err != nil {
		return err
	}
	defer conn.Close()
	client := workload.NewSpiffeWorkloadAPIClient(conn)
	set, err := fetchX509(ctx, client, want)
	if err != nil {
		return err
	}
	switch mode {
	case "check":
		return check(ctx, client, set, audience)
	case "serve":
		return serve(set, peer)
	case "dial":
		return dial(set, peer, port)
	}
	return fmt.Errorf("unknown mode %q", mode)
}
