package identity_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/sdjwt"
	"github.com/hearro/trustbroker/identity/status"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// world is everything a format test needs: a development-like issuer, a holder, a TLS server
// that serves status lists and did:web documents, and a verifier wired to it.
type world struct {
	t      testing.TB
	f      *fixture
	iss    *issuer.Issuer
	issDID string
	bbsDID string
	holder keyPair
	srv    *httptest.Server
	lists  map[string][]byte // path → body
	docs   map[string][]byte
	down   atomic.Bool
	hits   atomic.Int64
	v      *identity.Verifier
}

func newWorld(t testing.TB) *world {
	t.Helper()
	f := newFixture(t)
	seed := sha256.Sum256([]byte(t.Name()))
	w := &world{t: t, f: f, iss: issuer.New(ed25519.NewKeyFromSeed(seed[:])), holder: f.holder,
		lists: map[string][]byte{}, docs: map[string][]byte{}}
	w.issDID = w.iss.DID()
	var err error
	if w.bbsDID, err = w.iss.BBSDID(); err != nil {
		t.Fatal(err)
	}
	f.issuer = keyPair{} // the world's issuer replaces the fixture's
	w.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		if w.down.Load() {
			http.Error(rw, "down", http.StatusServiceUnavailable)
			return
		}
		if b, ok := w.lists[r.URL.Path]; ok {
			rw.Header().Set("Content-Type", "application/vc+ld+json")
			rw.Write(b)
			return
		}
		if b, ok := w.docs[r.URL.Path]; ok {
			rw.Header().Set("Content-Type", "application/did+json")
			rw.Write(b)
			return
		}
		http.NotFound(rw, r)
	}))
	t.Cleanup(w.srv.Close)
	w.v = w.verifier(identity.VerifierConfig{})
	return w
}

func (w *world) client() *http.Client {
	c := w.srv.Client()
	c.Timeout = 2 * time.Second
	return c
}

// verifier returns a verifier resolving did:web on the world's server, fetching its status
// lists; cfg's non-zero fields win.
func (w *world) verifier(cfg identity.VerifierConfig) *identity.Verifier {
	w.t.Helper()
	if cfg.Resolver == nil {
		r, err := identity.NewResolver(identity.ResolverConfig{WebClient: w.client()})
		if err != nil {
			w.t.Fatal(err)
		}
		cfg.Resolver = r
	}
	if cfg.Status == nil {
		sf, err := status.NewFetcher(status.Config{Client: w.client()})
		if err != nil {
			w.t.Fatal(err)
		}
		cfg.Status = sf
	}
	if cfg.Loader == nil {
		cfg.Loader = w.f.loader
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return w.f.now }
	}
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func (w *world) policy() *identity.Policy {
	p := identity.DevelopmentPolicy(w.issDID)
	p.TrustedIssuers = append(p.TrustedIssuers, w.bbsDID)
	return p
}

func (w *world) req(p *identity.Policy) identity.Request {
	if p == nil {
		p = w.policy()
	}
	return identity.Request{Policy: p, Challenge: testChallenge, Domain: testDomain}
}

var demoClaims = map[string]string{"givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"}

func (w *world) opts() issuer.Options {
	return issuer.Options{IssuedAt: w.f.now.Add(-time.Hour), ValidFor: 24 * time.Hour}
}

// statusList publishes a list at path with the given entries set, and returns its URL.
func (w *world) statusList(path, purpose string, bitstring bool, set ...int) string {
	w.t.Helper()
	list := status.New(131072, 1)
	for _, i := range set {
		list.Set(i, 1, 1)
	}
	u := w.srv.URL + path
	b, err := w.iss.StatusList(u, purpose, list, bitstring)
	if err != nil {
		w.t.Fatal(err)
	}
	w.lists[path] = b
	return u
}

func (w *world) ldVC(opt issuer.Options) json.RawMessage {
	w.t.Helper()
	vc, err := w.iss.Issue(w.holder.did(), demoClaims, opt)
	if err != nil {
		w.t.Fatal(err)
	}
	return vc
}

func (w *world) ldVP(vcs ...json.RawMessage) []byte {
	w.t.Helper()
	vp, err := identity.Present(identity.Presentation{
		Holder: w.holder.did(), VerificationMethod: w.holder.vm(), Credentials: vcs,
		DefinitionID: "def", Challenge: testChallenge, Domain: testDomain,
	}, identity.Ed25519Signer(w.holder.priv), w.f.loader)
	if err != nil {
		w.t.Fatal(err)
	}
	return vp
}

func (w *world) jwtVP(vcs []string, mutate func(*identity.JWTPresentation)) []byte {
	w.t.Helper()
	return w.jwtVPBy(w.holder.did(), w.holder.vm(), identity.Ed25519Signer(w.holder.priv), vcs, mutate)
}

// jwtVPBy is jwtVP for another holder, signing with s (EdDSA or ES256).
func (w *world) jwtVPBy(holder, kid string, s identity.Signer, vcs []string, mutate func(*identity.JWTPresentation)) []byte {
	w.t.Helper()
	p := identity.JWTPresentation{Holder: holder, KeyID: kid, Credentials: vcs,
		DefinitionID: "def", Challenge: testChallenge, Domain: testDomain, Now: w.f.now}
	if mutate != nil {
		mutate(&p)
	}
	vp, err := identity.PresentJWT(p, s)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := json.Marshal(vp) // as a JSON string, the way data.json carries it
	return b
}

// jwtVCBy returns a VerifiedCustomer VC-JWT of the demo claims about subject, issued an hour
// ago by issuerDID, signed by s (EdDSA or ES256) with kid; mutate may change the payload
// before it is signed.
func (w *world) jwtVCBy(s identity.Signer, issuerDID, kid, subject string, mutate func(payload map[string]any)) string {
	w.t.Helper()
	claims := map[string]any{"id": subject}
	for k, v := range demoClaims {
		claims[k] = v
	}
	iat := w.f.now.Add(-time.Hour)
	payload := map[string]any{
		"iss": issuerDID, "sub": subject, "jti": "urn:uuid:3f6d5a3e-0000-4000-8000-000000000003",
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": iat.Add(24 * time.Hour).Unix(),
		"vc": map[string]any{
			"@context":          []any{identity.CredentialsV1Context, identity.VerifiedCustomerContext},
			"type":              []any{"VerifiableCredential", "VerifiedCustomer"},
			"credentialSubject": claims,
		},
	}
	if mutate != nil {
		mutate(payload)
	}
	vc, err := identity.SignJWT(map[string]any{"typ": "JWT", "kid": kid}, payload, s)
	if err != nil {
		w.t.Fatal(err)
	}
	return vc
}

// sdJWTBy returns a VerifiedCustomer SD-JWT VC of the demo claims (each disclosable) about
// subject, issued by issuerDID, signed by s with kid, bound to holderKey (cnf.jwk).
func (w *world) sdJWTBy(s identity.Signer, issuerDID, kid, subject string, holderKey crypto.PublicKey) string {
	w.t.Helper()
	jwk, err := identity.PublicJWK(holderKey)
	if err != nil {
		w.t.Fatal(err)
	}
	var cnf map[string]any
	json.Unmarshal(jwk, &cnf)
	iat := w.f.now.Add(-time.Hour)
	payload := map[string]any{
		"iss": issuerDID, "sub": subject, "vct": issuer.SDJWTType, "cnf": map[string]any{"jwk": cnf},
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": iat.Add(24 * time.Hour).Unix(),
	}
	var names []string
	for n, v := range demoClaims {
		payload[n] = v
		names = append(names, n)
	}
	slices.Sort(names)
	concealed, disclosures, err := sdjwt.Conceal(payload, names)
	if err != nil {
		w.t.Fatal(err)
	}
	token, err := identity.SignJWT(map[string]any{"typ": identity.TypeSDJWTVC, "kid": kid}, concealed, s)
	if err != nil {
		w.t.Fatal(err)
	}
	list := make([]string, 0, len(names))
	for _, n := range names {
		list = append(list, disclosures[n])
	}
	return sdjwt.Join(token, list)
}

func (w *world) jwtVC(opt issuer.Options) string {
	w.t.Helper()
	vc, err := w.iss.IssueJWT(w.holder.did(), demoClaims, opt)
	if err != nil {
		w.t.Fatal(err)
	}
	return vc
}

func (w *world) sdJWT(opt issuer.Options) string {
	w.t.Helper()
	s, err := w.iss.IssueSDJWT(w.holder.did(), w.holder.pub, demoClaims, opt)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) sdPresent(sd string, reveal []string, challenge, domain string) []byte {
	w.t.Helper()
	return w.sdPresentBy(sd, reveal, challenge, domain, identity.Ed25519Signer(w.holder.priv))
}

// sdPresentBy is sdPresent with the key binding JWT signed by holderKey (EdDSA or ES256).
func (w *world) sdPresentBy(sd string, reveal []string, challenge, domain string, holderKey identity.Signer) []byte {
	w.t.Helper()
	p, err := identity.PresentSDJWT(identity.SDJWTPresentation{SDJWT: sd, Reveal: reveal, Challenge: challenge, Domain: domain, Now: w.f.now}, holderKey)
	if err != nil {
		w.t.Fatal(err)
	}
	return []byte(p)
}

func (w *world) bbsVC(reveal []string, opt issuer.Options) json.RawMessage {
	w.t.Helper()
	vc, err := w.iss.IssueBBS(w.holder.did(), demoClaims, opt)
	if err != nil {
		w.t.Fatal(err)
	}
	derived, err := identity.DeriveBBS(context.Background(), vc, reveal, []byte("nonce-from-the-wallet"), identity.OfflineMethods(), w.f.loader)
	if err != nil {
		w.t.Fatal(err)
	}
	return derived
}

type p256Pair struct {
	key *ecdsa.PrivateKey
	did string
}

func newP256(t testing.TB) p256Pair {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p256Pair{k, identity.DIDKeyP256(&k.PublicKey)}
}

func (p p256Pair) vm() string              { return identity.KeyMethodID(p.did) }
func (p p256Pair) signer() identity.Signer { return identity.P256Signer{Key: p.key} }

// derSigner signs ES256 as crypto/ecdsa does, ASN.1 DER, not the r||s JOSE requires.
type derSigner struct{ key *ecdsa.PrivateKey }

func (s derSigner) Sign(data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	return ecdsa.SignASN1(rand.Reader, s.key, h[:])
}
func (derSigner) Algorithm() string { return identity.AlgES256 }

// jws2020VC signs the fixture's credential with JsonWebSignature2020 by signer (Ed25519 or
// P-256) as issuer.
func (w *world) jws2020VC(issuerDID, vm string, s identity.Signer) json.RawMessage {
	w.t.Helper()
	vc := map[string]any{
		"@context":          []any{identity.CredentialsV1Context, identity.JWS2020Context, identity.VerifiedCustomerContext},
		"id":                "urn:uuid:3f6d5a3e-0000-4000-8000-000000000002",
		"type":              []any{"VerifiableCredential", "VerifiedCustomer"},
		"issuer":            issuerDID,
		"issuanceDate":      w.f.now.Add(-time.Hour).UTC().Format(time.RFC3339),
		"credentialSubject": map[string]any{"id": w.holder.did(), "givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"},
	}
	b, _ := json.Marshal(vc)
	signed, err := identity.SignLD(b, s, identity.LDProof{Type: identity.ProofJsonWebSignature2020, VerificationMethod: vm, Purpose: "assertionMethod"}, w.f.loader)
	if err != nil {
		w.t.Fatal(err)
	}
	return signed
}

func TestFormatsVerify(t *testing.T) {
	w := newWorld(t)
	p256 := newP256(t)
	edJWS := newKey(t)
	esIss, esHolder := newP256(t), newP256(t)
	trustES := func(p *identity.Policy) { p.TrustedIssuers = []string{esIss.did} }
	tests := []struct {
		name   string
		raw    func() []byte
		policy func(*identity.Policy)
		format identity.Format
		claims []string
		holder string // default: the world's holder
	}{
		{"ldp/Ed25519Signature2020", func() []byte { return w.ldVP(w.ldVC(w.opts())) }, nil, identity.FormatLDP, []string{"givenName", "familyName", "memberId"}, ""},
		{"ldp/JsonWebSignature2020 Ed25519", func() []byte {
			return w.ldVP(w.jws2020VC(edJWS.did(), edJWS.vm(), identity.Ed25519Signer(edJWS.priv)))
		}, func(p *identity.Policy) { p.TrustedIssuers = []string{edJWS.did()} }, identity.FormatLDP, nil, ""},
		{"ldp/JsonWebSignature2020 P-256", func() []byte {
			return w.ldVP(w.jws2020VC(p256.did, identity.KeyMethodID(p256.did), identity.P256Signer{Key: p256.key}))
		}, func(p *identity.Policy) { p.TrustedIssuers = []string{p256.did} }, identity.FormatLDP, nil, ""},
		{"bbs/selective disclosure", func() []byte {
			return w.ldVP(w.bbsVC([]string{"givenName", "familyName", "memberId"}, w.opts()))
		}, nil, identity.FormatBBS, []string{"givenName", "familyName", "memberId"}, ""},
		{"jwt/VP-JWT as a JSON string", func() []byte { return w.jwtVP([]string{w.jwtVC(w.opts())}, nil) }, nil, identity.FormatJWT, []string{"givenName", "familyName", "memberId"}, ""},
		{"jwt/bare compact VP-JWT", func() []byte {
			var s string
			json.Unmarshal(w.jwtVP([]string{w.jwtVC(w.opts())}, nil), &s)
			return []byte(s)
		}, nil, identity.FormatJWT, nil, ""},
		{"jwt/ES256 VC-JWT in an ES256 VP-JWT (P-256 issuer and holder)", func() []byte {
			vc := w.jwtVCBy(esIss.signer(), esIss.did, esIss.vm(), esHolder.did, nil)
			return w.jwtVPBy(esHolder.did, esHolder.vm(), esHolder.signer(), []string{vc}, nil)
		}, trustES, identity.FormatJWT, []string{"givenName", "familyName", "memberId"}, esHolder.did},
		{"jwt/ES256 VC-JWT in an EdDSA VP-JWT", func() []byte {
			return w.jwtVP([]string{w.jwtVCBy(esIss.signer(), esIss.did, esIss.vm(), w.holder.did(), nil)}, nil)
		}, trustES, identity.FormatJWT, nil, ""},
		{"sd-jwt/ES256 SD-JWT VC with an ES256 key binding JWT", func() []byte {
			sd := w.sdJWTBy(esIss.signer(), esIss.did, esIss.vm(), esHolder.did, &esHolder.key.PublicKey)
			return w.sdPresentBy(sd, []string{"givenName", "familyName", "memberId"}, testChallenge, testDomain, esHolder.signer())
		}, trustES, identity.FormatSDJWT, []string{"givenName", "familyName", "memberId"}, esHolder.did},
		{"sd-jwt/three of three disclosed", func() []byte {
			return w.sdPresent(w.sdJWT(w.opts()), []string{"givenName", "familyName", "memberId"}, testChallenge, testDomain)
		}, nil, identity.FormatSDJWT, []string{"givenName", "familyName", "memberId"}, ""},
		{"sd-jwt/as a JSON string", func() []byte {
			b, _ := json.Marshal(string(w.sdPresent(w.sdJWT(w.opts()), []string{"givenName", "familyName", "memberId"}, testChallenge, testDomain)))
			return b
		}, nil, identity.FormatSDJWT, nil, ""},
		{"ldp/StatusList2021 not revoked", func() []byte {
			u := w.statusList("/status/ok-2021", "revocation", false, 7)
			opt := w.opts()
			opt.Status = &issuer.Status{ListURL: u, Index: 8}
			return w.ldVP(w.ldVC(opt))
		}, nil, identity.FormatLDP, nil, ""},
		{"jwt/Bitstring Status List not revoked", func() []byte {
			u := w.statusList("/status/ok-bitstring", "revocation", true, 7)
			opt := w.opts()
			opt.Status = &issuer.Status{ListURL: u, Index: 6, Bitstring: true}
			return w.jwtVP([]string{w.jwtVC(opt)}, nil)
		}, nil, identity.FormatJWT, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := w.policy()
			if tc.policy != nil {
				tc.policy(p)
			}
			v := w.verifier(identity.VerifierConfig{})
			raw := tc.raw()
			res, err := v.Verify(context.Background(), raw, identity.Request{Policy: p, Challenge: testChallenge + tc.name, Domain: testDomain})
			assertRefused(t, res, err, identity.ReasonChallengeMismatch)
			res, err = v.Verify(context.Background(), raw, w.req(p))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			holder := tc.holder
			if holder == "" {
				holder = w.holder.did()
			}
			if res.HolderDID != holder || res.Format != tc.format || res.CredentialType != "VerifiedCustomer" {
				t.Fatalf("result %+v", res)
			}
			for _, c := range tc.claims {
				if res.Claims[c] != demoClaims[c] {
					t.Fatalf("claim %s = %v", c, res.Claims[c])
				}
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// mutJWT changes a compact JWS's payload (or header) and keeps its now wrong signature.
func mutJWT(token string, header, payload func(map[string]any)) string {
	parts := strings.Split(token, ".")
	dec := func(s string, f func(map[string]any)) string {
		if f == nil {
			return s
		}
		b, _ := base64.RawURLEncoding.DecodeString(s)
		var m map[string]any
		json.Unmarshal(b, &m)
		f(m)
		b, _ = json.Marshal(m)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return dec(parts[0], header) + "." + dec(parts[1], payload) + "." + parts[2]
}

func unquote(b []byte) string {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return string(b)
	}
	return s
}

func TestRefusals(t *testing.T) {
	w := newWorld(t)
	other := newKey(t)
	otherIss := issuer.New(other.priv)
	p256 := newP256(t)
	p256other := newP256(t)
	allClaims := []string{"givenName", "familyName", "memberId"}
	ctx := context.Background()

	// A did:web issuer on the world's TLS server.
	webKey := newKey(t)
	host := strings.TrimPrefix(w.srv.URL, "https://")
	webDID := "did:web:" + strings.ReplaceAll(host, ":", "%3A") + ":issuers:bank"
	w.docs["/issuers/bank/did.json"] = []byte(`{"@context":["https://www.w3.org/ns/did/v1"],"id":"` + webDID + `",
		"verificationMethod":[{"id":"` + webDID + `#key-1","type":"Ed25519VerificationKey2018","controller":"` + webDID + `",
		"publicKeyBase58":"` + base58.Encode(webKey.pub) + `"}],"assertionMethod":["#key-1"]}`)
	w.docs["/issuers/liar/did.json"] = []byte(`{"id":"did:web:elsewhere.example.com","verificationMethod":[]}`)
	webVC := func(did string) json.RawMessage {
		vc := map[string]any{
			"@context":          []any{identity.CredentialsV1Context, identity.Ed25519Signature2020Context, identity.VerifiedCustomerContext},
			"type":              []any{"VerifiableCredential", "VerifiedCustomer"},
			"issuer":            did,
			"issuanceDate":      w.f.now.Add(-time.Hour).UTC().Format(time.RFC3339),
			"credentialSubject": map[string]any{"id": w.holder.did(), "givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"},
		}
		b, _ := json.Marshal(vc)
		signed, err := identity.SignLD(b, identity.Ed25519Signer(webKey.priv), identity.LDProof{VerificationMethod: did + "#key-1", Purpose: "assertionMethod"}, w.f.loader)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	byDomain := func(p *identity.Policy) {
		p.TrustedIssuers = nil
		p.TrustedDomains = []string{strings.Split(host, ":")[0] + ":" + strings.Split(host, ":")[1]}
	}

	// A Universal Resolver on loopback that knows one did:sov issuer.
	sovKey := newKey(t)
	sovDID := "did:sov:WRfXPg8dantKVubE3HX8pw"
	uni := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/1.0/identifiers/"+sovDID {
			http.NotFound(rw, r)
			return
		}
		rw.Write([]byte(`{"didDocument":{"id":"` + sovDID + `","verificationMethod":[{"id":"` + sovDID + `#key-1","type":"Ed25519VerificationKey2018",
			"publicKeyBase58":"` + base58.Encode(sovKey.pub) + `"}],"assertionMethod":["` + sovDID + `#key-1"],"authentication":["` + sovDID + `#key-1"]},"didResolutionMetadata":{}}`))
	}))
	t.Cleanup(uni.Close)
	uniResolver, err := identity.NewResolver(identity.ResolverConfig{WebClient: w.client(), UniversalResolverURL: uni.URL,
		UniversalClient: &http.Client{Timeout: 2 * time.Second}, UniversalMethods: []string{"sov"}})
	if err != nil {
		t.Fatal(err)
	}
	sovVC := func(did string) json.RawMessage {
		vc := map[string]any{
			"@context":          []any{identity.CredentialsV1Context, identity.Ed25519Signature2020Context, identity.VerifiedCustomerContext},
			"type":              []any{"VerifiableCredential", "VerifiedCustomer"},
			"issuer":            did,
			"issuanceDate":      w.f.now.Add(-time.Hour).UTC().Format(time.RFC3339),
			"credentialSubject": map[string]any{"id": w.holder.did(), "givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"},
		}
		b, _ := json.Marshal(vc)
		signed, _ := identity.SignLD(b, identity.Ed25519Signer(sovKey.priv), identity.LDProof{VerificationMethod: did + "#key-1", Purpose: "assertionMethod"}, w.f.loader)
		return signed
	}

	withStatus := func(path, purpose string, bitstring bool, index int, set ...int) issuer.Options {
		u := w.statusList(path, purpose, bitstring, set...)
		opt := w.opts()
		opt.Status = &issuer.Status{ListURL: u, Index: index, Purpose: purpose, Bitstring: bitstring}
		return opt
	}
	goodSD := func() string { return w.sdJWT(w.opts()) }

	// ES256 throughout: a P-256 issuer, a P-256 holder.
	esIss, esHolder := p256, newP256(t)
	trustES := func(p *identity.Policy) { p.TrustedIssuers = []string{esIss.did} }
	esVC := func() string { return w.jwtVCBy(esIss.signer(), esIss.did, esIss.vm(), esHolder.did, nil) }
	esVP := func(vc string, mutate func(*identity.JWTPresentation)) []byte {
		return w.jwtVPBy(esHolder.did, esHolder.vm(), esHolder.signer(), []string{vc}, mutate)
	}
	esSD := func() string {
		return w.sdJWTBy(esIss.signer(), esIss.did, esIss.vm(), esHolder.did, &esHolder.key.PublicKey)
	}
	trustOther := func(maxAge time.Duration) func(*identity.Policy) {
		return func(p *identity.Policy) { p.TrustedIssuers, p.MaxCredentialAge = []string{other.did()}, maxAge }
	}
	undated := func(m map[string]any) { delete(m, "iat"); delete(m, "nbf") }

	// A status list server slower than the fetcher's timeout on /slow/, prompt on /prompt/.
	var slowLists sync.Map
	slow := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		delay := 20 * time.Millisecond
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			delay = 10 * time.Second
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		b, ok := slowLists.Load(r.URL.Path)
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Write(b.([]byte))
	}))
	t.Cleanup(slow.Close)
	slowList := func(path string) issuer.Options {
		u := slow.URL + path
		b, err := w.iss.StatusList(u, "revocation", status.New(1024, 1), false)
		if err != nil {
			t.Fatal(err)
		}
		slowLists.Store(path, b)
		opt := w.opts()
		opt.Status = &issuer.Status{ListURL: u, Index: 1}
		return opt
	}
	slowFetcher := func(c *identity.VerifierConfig) {
		client := slow.Client()
		client.Timeout = 300 * time.Millisecond
		c.Status, _ = status.NewFetcher(status.Config{Client: client})
	}
	smallFetcher := func(c *identity.VerifierConfig) {
		c.Status, _ = status.NewFetcher(status.Config{Client: w.client(), MaxSize: 512})
	}
	failOpen := func(p *identity.Policy) { p.Status = identity.StatusFailOpen }

	// did:peer:2 holders: the world's holder key as the verification key.
	peerVP := func(peer, vm string) []byte {
		vc, err := w.iss.Issue(peer, demoClaims, w.opts())
		if err != nil {
			t.Fatal(err)
		}
		vp, err := identity.Present(identity.Presentation{Holder: peer, VerificationMethod: vm, Credentials: []json.RawMessage{vc},
			Challenge: testChallenge, Domain: testDomain}, identity.Ed25519Signer(w.holder.priv), w.f.loader)
		if err != nil {
			t.Fatal(err)
		}
		return vp
	}
	holderMultikey := strings.TrimPrefix(w.holder.did(), "did:key:")
	peerDID := peer2("E"+x25519Multibase(t), "V"+holderMultikey)

	tests := []struct {
		name   string
		raw    func() []byte
		want   identity.Reason // "" = verified
		policy func(*identity.Policy)
		cfg    func(*identity.VerifierConfig)
	}{
		// JWT
		{"jwt/tampered claim in the VC-JWT", func() []byte {
			vc := mutJWT(w.jwtVC(w.opts()), nil, func(m map[string]any) {
				m["vc"].(map[string]any)["credentialSubject"].(map[string]any)["memberId"] = "99999"
			})
			return w.jwtVP([]string{vc}, nil)
		}, identity.ReasonBadSignature, nil, nil},
		{"jwt/VC-JWT signed by another key under the issuer's kid", func() []byte {
			forged, _ := otherIss.IssueJWT(w.holder.did(), demoClaims, w.opts())
			forged = mutJWT(forged, func(h map[string]any) { h["kid"] = identity.KeyMethodID(w.issDID) }, func(m map[string]any) { m["iss"] = w.issDID })
			return w.jwtVP([]string{forged}, nil)
		}, identity.ReasonBadSignature, nil, nil},
		{"jwt/VC-JWT kid names another DID", func() []byte {
			vc := mutJWT(w.jwtVC(w.opts()), func(h map[string]any) { h["kid"] = other.vm() }, nil)
			return w.jwtVP([]string{vc}, nil)
		}, identity.ReasonIssuerMismatch, nil, nil},
		{"jwt/VP-JWT nonce is another session's", func() []byte {
			return w.jwtVP([]string{w.jwtVC(w.opts())}, func(p *identity.JWTPresentation) { p.Challenge = "other" })
		}, identity.ReasonChallengeMismatch, nil, nil},
		{"jwt/VP-JWT audience is another verifier", func() []byte {
			return w.jwtVP([]string{w.jwtVC(w.opts())}, func(p *identity.JWTPresentation) { p.Domain = "https://evil.example.com" })
		}, identity.ReasonDomainMismatch, nil, nil},
		{"jwt/VP-JWT signed by a key that is not the holder's", func() []byte {
			return w.jwtVP([]string{w.jwtVC(w.opts())}, func(p *identity.JWTPresentation) { p.KeyID = other.vm() })
		}, identity.ReasonHolderMismatch, nil, nil},
		{"jwt/expired VC-JWT", func() []byte {
			opt := w.opts()
			opt.IssuedAt, opt.ValidFor = w.f.now.Add(-48*time.Hour), time.Hour
			return w.jwtVP([]string{w.jwtVC(opt)}, nil)
		}, identity.ReasonExpiredCredential, nil, nil},
		{"jwt/VC-JWT not yet valid", func() []byte {
			opt := w.opts()
			opt.IssuedAt = w.f.now.Add(time.Hour)
			return w.jwtVP([]string{w.jwtVC(opt)}, nil)
		}, identity.ReasonNotYetValid, nil, nil},
		{"jwt/alg none", func() []byte {
			vp := unquote(w.jwtVP([]string{w.jwtVC(w.opts())}, nil))
			return []byte(mutJWT(vp, func(h map[string]any) { h["alg"] = "none" }, nil))
		}, identity.ReasonUnsupportedFormat, nil, nil},
		{"jwt/VC-JWT about someone else", func() []byte {
			vc, _ := w.iss.IssueJWT(other.did(), demoClaims, w.opts())
			return w.jwtVP([]string{vc}, nil)
		}, identity.ReasonHolderMismatch, nil, nil},
		{"jwt/JSON-LD credential inside a VP-JWT", func() []byte {
			vp := map[string]any{"iss": w.holder.did(), "aud": testDomain, "nonce": testChallenge,
				"vp": map[string]any{"type": []any{"VerifiablePresentation"}, "verifiableCredential": []any{map[string]any{"type": "VerifiableCredential"}}}}
			s, _ := identity.SignJWT(map[string]any{"kid": w.holder.vm()}, vp, identity.Ed25519Signer(w.holder.priv))
			return []byte(s)
		}, identity.ReasonUnsupportedFormat, nil, nil},
		{"jwt/VP-JWT without credentials", func() []byte { return w.jwtVP([]string{}, nil) }, identity.ReasonMissingCredential, nil, nil},
		{"jwt/did:jwk holder", func() []byte {
			jwkDID, _ := identity.DIDJWK(w.holder.pub)
			vc, _ := w.iss.IssueJWT(jwkDID, demoClaims, w.opts())
			return w.jwtVP([]string{vc}, func(p *identity.JWTPresentation) { p.Holder, p.KeyID = jwkDID, jwkDID+"#0" })
		}, "", nil, nil},
		{"jwt/JWE presentation", func() []byte { return []byte("eyJhbGciOiJFQ0RILUVTIn0.a.b.c.d") }, identity.ReasonUnsupportedFormat, nil, nil},

		// ES256
		{"jwt/ES256 VC-JWT and VP-JWT", func() []byte { return esVP(esVC(), nil) }, "", trustES, nil},
		{"jwt/ES256 VC-JWT with a tampered claim", func() []byte {
			return esVP(mutJWT(esVC(), nil, func(m map[string]any) {
				m["vc"].(map[string]any)["credentialSubject"].(map[string]any)["memberId"] = "99999"
			}), nil)
		}, identity.ReasonBadSignature, trustES, nil},
		{"jwt/ES256 VC-JWT signed by another P-256 key under the issuer's kid", func() []byte {
			return esVP(w.jwtVCBy(p256other.signer(), esIss.did, esIss.vm(), esHolder.did, nil), nil)
		}, identity.ReasonBadSignature, trustES, nil},
		{"jwt/ES256 VC-JWT with an ASN.1 DER signature", func() []byte {
			return esVP(w.jwtVCBy(derSigner{esIss.key}, esIss.did, esIss.vm(), esHolder.did, nil), nil)
		}, identity.ReasonBadSignature, trustES, nil},
		{"jwt/VC-JWT signed EdDSA under the issuer's P-256 kid", func() []byte {
			return esVP(w.jwtVCBy(identity.Ed25519Signer(other.priv), esIss.did, esIss.vm(), esHolder.did, nil), nil)
		}, identity.ReasonBadSignature, trustES, nil},
		{"jwt/VC-JWT signed ES256 under an Ed25519 issuer's kid", func() []byte {
			return esVP(w.jwtVCBy(esIss.signer(), other.did(), other.vm(), esHolder.did, nil), nil)
		}, identity.ReasonBadSignature, trustOther(0), nil},
		{"jwt/ES384 VC-JWT", func() []byte {
			return esVP(mutJWT(esVC(), func(h map[string]any) { h["alg"] = "ES384" }, nil), nil)
		}, identity.ReasonUnsupportedFormat, trustES, nil},
		{"jwt/ES256 VP-JWT signed by another P-256 key under the holder's kid", func() []byte {
			return w.jwtVPBy(esHolder.did, esHolder.vm(), p256other.signer(), []string{esVC()}, nil)
		}, identity.ReasonBadSignature, trustES, nil},
		{"jwt/ES256 VP-JWT nonce is another session's", func() []byte {
			return esVP(esVC(), func(p *identity.JWTPresentation) { p.Challenge = "other" })
		}, identity.ReasonChallengeMismatch, trustES, nil},
		{"jwt/ES256 VP-JWT audience is another verifier", func() []byte {
			return esVP(esVC(), func(p *identity.JWTPresentation) { p.Domain = "https://evil.example.com" })
		}, identity.ReasonDomainMismatch, trustES, nil},
		{"sd-jwt/ES256 SD-JWT VC and key binding", func() []byte {
			return w.sdPresentBy(esSD(), allClaims, testChallenge, testDomain, esHolder.signer())
		}, "", trustES, nil},
		{"sd-jwt/ES256 key binding nonce is another session's", func() []byte {
			return w.sdPresentBy(esSD(), allClaims, "other", testDomain, esHolder.signer())
		}, identity.ReasonChallengeMismatch, trustES, nil},
		{"sd-jwt/ES256 key binding audience is another verifier", func() []byte {
			return w.sdPresentBy(esSD(), allClaims, testChallenge, "https://evil.example.com", esHolder.signer())
		}, identity.ReasonDomainMismatch, trustES, nil},
		{"sd-jwt/ES256 key binding signed by another P-256 key", func() []byte {
			return w.sdPresentBy(esSD(), allClaims, testChallenge, testDomain, p256other.signer())
		}, identity.ReasonBadSignature, trustES, nil},
		{"sd-jwt/key binding signed EdDSA for a P-256 cnf key", func() []byte {
			return w.sdPresentBy(esSD(), allClaims, testChallenge, testDomain, identity.Ed25519Signer(other.priv))
		}, identity.ReasonBadSignature, trustES, nil},
		{"sd-jwt/ES256 key binding with an ASN.1 DER signature", func() []byte {
			return w.sdPresentBy(esSD(), allClaims, testChallenge, testDomain, derSigner{esHolder.key})
		}, identity.ReasonBadSignature, trustES, nil},
		{"sd-jwt/ES256 issuer JWT signed by another P-256 key under the issuer's kid", func() []byte {
			sd := w.sdJWTBy(p256other.signer(), esIss.did, esIss.vm(), esHolder.did, &esHolder.key.PublicKey)
			return w.sdPresentBy(sd, allClaims, testChallenge, testDomain, esHolder.signer())
		}, identity.ReasonBadSignature, trustES, nil},
		{"sd-jwt/ES256 tampered issuer-signed payload", func() []byte {
			sd := esSD()
			i := strings.Index(sd, "~")
			sd = mutJWT(sd[:i], nil, func(m map[string]any) { m["exp"] = 4102444800.0 }) + sd[i:]
			return w.sdPresentBy(sd, allClaims, testChallenge, testDomain, esHolder.signer())
		}, identity.ReasonBadSignature, trustES, nil},
		{"sd-jwt/ES256 cnf key is not the subject's", func() []byte {
			sd := w.sdJWTBy(esIss.signer(), esIss.did, esIss.vm(), esHolder.did, &p256other.key.PublicKey)
			return w.sdPresentBy(sd, allClaims, testChallenge, testDomain, p256other.signer())
		}, identity.ReasonHolderMismatch, trustES, nil},

		// SD-JWT
		{"sd-jwt/without key binding", func() []byte { return []byte(goodSD()) }, identity.ReasonHolderMismatch, nil, nil},
		{"sd-jwt/key binding nonce is another session's", func() []byte {
			return w.sdPresent(goodSD(), allClaims, "other", testDomain)
		}, identity.ReasonChallengeMismatch, nil, nil},
		{"sd-jwt/key binding audience is another verifier", func() []byte {
			return w.sdPresent(goodSD(), allClaims, testChallenge, "https://evil.example.com")
		}, identity.ReasonDomainMismatch, nil, nil},
		{"sd-jwt/disclosure added after key binding", func() []byte {
			sd := goodSD()
			p := string(w.sdPresent(sd, []string{"givenName", "familyName"}, testChallenge, testDomain))
			all := strings.Split(sd, "~")
			i := strings.LastIndex(p, "~")
			return []byte(p[:i+1] + all[len(all)-2] + "~" + p[i+1:])
		}, identity.ReasonBadSignature, func(p *identity.Policy) { p.RequiredClaims = []string{"givenName"} }, nil},
		{"sd-jwt/forged disclosure", func() []byte {
			p := string(w.sdPresent(goodSD(), allClaims, testChallenge, testDomain))
			forged := b64(`["c2FsdA","memberId","99999"]`)
			parts := strings.SplitN(p, "~", 2)
			return []byte(parts[0] + "~" + forged + "~" + parts[1])
		}, identity.ReasonMalformed, nil, nil},
		{"sd-jwt/key binding signed by another key", func() []byte {
			pres, _ := identity.PresentSDJWT(identity.SDJWTPresentation{SDJWT: goodSD(), Reveal: allClaims, Challenge: testChallenge, Domain: testDomain, Now: w.f.now}, identity.Ed25519Signer(other.priv))
			return []byte(pres)
		}, identity.ReasonBadSignature, nil, nil},
		{"sd-jwt/required claim not disclosed", func() []byte {
			return w.sdPresent(goodSD(), []string{"givenName", "familyName"}, testChallenge, testDomain)
		}, identity.ReasonMissingClaim, nil, nil},
		{"sd-jwt/tampered issuer-signed payload", func() []byte {
			sd := goodSD()
			i := strings.Index(sd, "~")
			sd = mutJWT(sd[:i], nil, func(m map[string]any) { m["vct"] = "VerifiedCustomer"; m["exp"] = 4102444800.0 }) + sd[i:]
			return w.sdPresent(sd, allClaims, testChallenge, testDomain)
		}, identity.ReasonBadSignature, nil, nil},
		{"sd-jwt/wrong typ", func() []byte {
			sd := goodSD()
			i := strings.Index(sd, "~")
			sd = mutJWT(sd[:i], func(h map[string]any) { h["typ"] = "JWT" }, nil) + sd[i:]
			return w.sdPresent(sd, allClaims, testChallenge, testDomain)
		}, identity.ReasonUnsupportedFormat, nil, nil},

		// BBS+ and JsonWebSignature2020
		{"bbs/tampered revealed claim", func() []byte {
			vc := w.bbsVC(allClaims, w.opts())
			var m map[string]any
			json.Unmarshal(vc, &m)
			subject(m)["memberId"] = "99999"
			vc, _ = json.Marshal(m)
			return w.ldVP(vc)
		}, identity.ReasonBadSignature, nil, nil},
		{"bbs/required claim not revealed", func() []byte {
			return w.ldVP(w.bbsVC([]string{"givenName", "familyName"}, w.opts()))
		}, identity.ReasonMissingClaim, nil, nil},
		{"bbs/derived proof revealing what the policy asks", func() []byte { return w.ldVP(w.bbsVC(allClaims, w.opts())) }, "", nil, nil},
		{"bbs/underived BbsBlsSignature2020 credential, disclosing every claim", func() []byte {
			vc, err := w.iss.IssueBBS(w.holder.did(), demoClaims, w.opts())
			if err != nil {
				t.Fatal(err)
			}
			return w.ldVP(vc)
		}, identity.ReasonUnsupportedFormat, nil, nil},
		{"bbs/BBS+ key not trusted", func() []byte { return w.ldVP(w.bbsVC(allClaims, w.opts())) }, identity.ReasonUntrustedIssuer,
			func(p *identity.Policy) { p.TrustedIssuers = []string{w.issDID} }, nil},
		{"ldp/JsonWebSignature2020 P-256 signed by another key", func() []byte {
			return w.ldVP(w.jws2020VC(p256.did, identity.KeyMethodID(p256.did), identity.P256Signer{Key: p256other.key}))
		}, identity.ReasonBadSignature, func(p *identity.Policy) { p.TrustedIssuers = []string{p256.did} }, nil},

		// Status lists
		{"status/revoked (StatusList2021)", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/revoked", "revocation", false, 42, 42)))
		}, identity.ReasonRevoked, nil, nil},
		{"status/suspended (Bitstring Status List, VC-JWT)", func() []byte {
			return w.jwtVP([]string{w.jwtVC(withStatus("/s/suspended", "suspension", true, 3, 3))}, nil)
		}, identity.ReasonSuspended, nil, nil},
		{"status/revoked SD-JWT-free JWT next to a good one is still revoked", func() []byte {
			return w.jwtVP([]string{w.jwtVC(w.opts()), w.jwtVC(withStatus("/s/revoked2", "revocation", true, 9, 9))}, nil)
		}, identity.ReasonRevoked, nil, nil},
		{"status/list unreachable, policy fails closed", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/gone", "revocation", false, 1)))
		}, identity.ReasonStatusUnavailable, nil, func(c *identity.VerifierConfig) {
			sf, _ := status.NewFetcher(status.Config{Client: &http.Client{Timeout: 200 * time.Millisecond, Transport: failing{}}})
			c.Status = sf
		}},
		{"status/list unreachable, policy fails open", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/gone2", "revocation", false, 1)))
		}, "", func(p *identity.Policy) { p.Status = identity.StatusFailOpen }, func(c *identity.VerifierConfig) {
			sf, _ := status.NewFetcher(status.Config{Client: &http.Client{Timeout: 200 * time.Millisecond, Transport: failing{}}})
			c.Status = sf
		}},
		{"status/suspended (StatusList2021, JSON-LD)", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/suspended-ld", "suspension", false, 5, 5)))
		}, identity.ReasonSuspended, nil, nil},
		{"status/suspension bit unset (StatusList2021, JSON-LD)", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/not-suspended-ld", "suspension", false, 5, 4, 6)))
		}, "", nil, nil},
		{"status/suspension bit unset (Bitstring Status List, VC-JWT)", func() []byte {
			return w.jwtVP([]string{w.jwtVC(withStatus("/s/not-suspended", "suspension", true, 3, 2, 4))}, nil)
		}, "", nil, nil},
		{"status/list larger than the size limit, policy fails closed", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/large", "revocation", false, 1)))
		}, identity.ReasonStatusUnavailable, nil, smallFetcher},
		{"status/list larger than the size limit, policy fails open", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/large2", "revocation", false, 1)))
		}, "", failOpen, smallFetcher},
		{"status/list decompresses beyond the limit, even failing open", func() []byte {
			list := status.New((status.DefaultMaxListBytes+1)*8, 1)
			b, err := w.iss.StatusList(w.srv.URL+"/s/bomb", "revocation", list, false)
			if err != nil {
				t.Fatal(err)
			}
			w.lists["/s/bomb"] = b
			opt := w.opts()
			opt.Status = &issuer.Status{ListURL: w.srv.URL + "/s/bomb", Index: 1}
			return w.ldVP(w.ldVC(opt))
		}, identity.ReasonStatusUnavailable, failOpen, nil},
		{"status/server slower than the timeout, policy fails closed", func() []byte {
			return w.ldVP(w.ldVC(slowList("/slow/a")))
		}, identity.ReasonStatusUnavailable, nil, slowFetcher},
		{"status/server slower than the timeout, policy fails open", func() []byte {
			return w.ldVP(w.ldVC(slowList("/slow/b")))
		}, "", failOpen, slowFetcher},
		{"status/server answers within the timeout", func() []byte {
			return w.ldVP(w.ldVC(slowList("/prompt/a")))
		}, "", nil, slowFetcher},
		{"status/list answers 404", func() []byte {
			opt := w.opts()
			opt.Status = &issuer.Status{ListURL: w.srv.URL + "/s/missing", Index: 1}
			return w.ldVP(w.ldVC(opt))
		}, identity.ReasonStatusUnavailable, nil, nil},
		{"status/list issued by someone else", func() []byte {
			list := status.New(1024, 1)
			b, _ := otherIss.StatusList(w.srv.URL+"/s/foreign", "revocation", list, false)
			w.lists["/s/foreign"] = b
			opt := w.opts()
			opt.Status = &issuer.Status{ListURL: w.srv.URL + "/s/foreign", Index: 1}
			return w.ldVP(w.ldVC(opt))
		}, identity.ReasonStatusUnavailable, nil, nil},
		{"status/list with a forged signature", func() []byte {
			u := w.statusList("/s/forged", "revocation", false)
			var m map[string]any
			json.Unmarshal(w.lists["/s/forged"], &m)
			m["credentialSubject"].(map[string]any)["encodedList"], _ = status.Encode(status.New(8, 1), false)
			w.lists["/s/forged"], _ = json.Marshal(m)
			opt := w.opts()
			opt.Status = &issuer.Status{ListURL: u, Index: 5}
			return w.ldVP(w.ldVC(opt))
		}, identity.ReasonStatusUnavailable, nil, nil},
		{"status/index beyond the list", func() []byte {
			list := status.New(8, 1)
			b, _ := w.iss.StatusList(w.srv.URL+"/s/short", "revocation", list, false)
			w.lists["/s/short"] = b
			opt := w.opts()
			opt.Status = &issuer.Status{ListURL: w.srv.URL + "/s/short", Index: 100}
			return w.ldVP(w.ldVC(opt))
		}, identity.ReasonMalformed, nil, nil},
		{"status/no fetcher configured", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/nofetch", "revocation", false, 1)))
		}, identity.ReasonStatusUnavailable, nil, func(c *identity.VerifierConfig) { c.Status = noStatus }},
		{"status/policy does not check", func() []byte {
			return w.ldVP(w.ldVC(withStatus("/s/unchecked", "revocation", false, 1, 1)))
		}, "", func(p *identity.Policy) { p.Status = identity.StatusOff }, nil},

		// Policies
		{"policy/format not allowed", func() []byte { return w.jwtVP([]string{w.jwtVC(w.opts())}, nil) }, identity.ReasonFormatNotAllowed,
			func(p *identity.Policy) { p.Formats = []identity.Format{identity.FormatLDP} }, nil},
		{"policy/credential older than the maximum age", func() []byte { return w.ldVP(w.ldVC(w.opts())) }, identity.ReasonCredentialTooOld,
			func(p *identity.Policy) { p.MaxCredentialAge = 30 * time.Minute }, nil},
		{"policy/credential younger than the maximum age", func() []byte { return w.ldVP(w.ldVC(w.opts())) }, "",
			func(p *identity.Policy) { p.MaxCredentialAge = 2 * time.Hour }, nil},
		{"policy/credential older than the maximum age by less than the clock skew", func() []byte { return w.ldVP(w.ldVC(w.opts())) }, "",
			func(p *identity.Policy) { p.MaxCredentialAge = time.Hour - time.Minute }, nil},
		{"policy/VC-JWT older than the maximum age", func() []byte { return w.jwtVP([]string{w.jwtVC(w.opts())}, nil) }, identity.ReasonCredentialTooOld,
			func(p *identity.Policy) { p.MaxCredentialAge = 30 * time.Minute }, nil},
		{"policy/SD-JWT older than the maximum age", func() []byte {
			return w.sdPresent(goodSD(), allClaims, testChallenge, testDomain)
		}, identity.ReasonCredentialTooOld, func(p *identity.Policy) { p.MaxCredentialAge = 30 * time.Minute }, nil},
		{"policy/credential without an issuance date, under a maximum age", func() []byte {
			return w.jwtVP([]string{w.jwtVCBy(identity.Ed25519Signer(other.priv), other.did(), other.vm(), w.holder.did(), undated)}, nil)
		}, identity.ReasonCredentialTooOld, trustOther(24 * time.Hour), nil},
		{"policy/credential without an issuance date, no maximum age", func() []byte {
			return w.jwtVP([]string{w.jwtVCBy(identity.Ed25519Signer(other.priv), other.did(), other.vm(), w.holder.did(), undated)}, nil)
		}, "", trustOther(0), nil},
		{"policy/claim fails its filter", func() []byte { return w.ldVP(w.ldVC(w.opts())) }, identity.ReasonClaimConstraint,
			func(p *identity.Policy) {
				p.ClaimFilters = map[string]identity.ClaimFilter{"memberId": {Type: "string", Pattern: "^[0-9]{8}$"}}
			}, nil},
		{"policy/claim passes its filter", func() []byte { return w.ldVP(w.ldVC(w.opts())) }, "",
			func(p *identity.Policy) {
				p.ClaimFilters = map[string]identity.ClaimFilter{"memberId": {Type: "string", Pattern: "^[0-9]{5}$"}}
			}, nil},
		{"policy/issuer trusted by did:web domain", func() []byte { return w.ldVP(webVC(webDID)) }, "", byDomain, nil},
		{"policy/did:web issuer under another domain", func() []byte { return w.ldVP(webVC(webDID)) }, identity.ReasonUntrustedIssuer,
			func(p *identity.Policy) { p.TrustedIssuers = nil; p.TrustedDomains = []string{"bank.example.com"} }, nil},

		// DIDs
		{"did/did:web document not found", func() []byte {
			return w.ldVP(webVC(strings.Replace(webDID, ":bank", ":nobody", 1)))
		}, identity.ReasonUnresolvableDID, func(p *identity.Policy) {
			p.TrustedIssuers = []string{strings.Replace(webDID, ":bank", ":nobody", 1)}
		}, nil},
		{"did/did:web document names another DID", func() []byte {
			return w.ldVP(webVC(strings.Replace(webDID, ":bank", ":liar", 1)))
		}, identity.ReasonUnresolvableDID, func(p *identity.Policy) {
			p.TrustedIssuers = []string{strings.Replace(webDID, ":bank", ":liar", 1)}
		}, nil},
		{"did/did:sov issuer through the Universal Resolver", func() []byte { return w.ldVP(sovVC(sovDID)) }, "",
			func(p *identity.Policy) { p.TrustedIssuers = []string{sovDID} }, func(c *identity.VerifierConfig) { c.Resolver = uniResolver }},
		{"did/Universal Resolver does not know the DID", func() []byte { return w.ldVP(sovVC("did:sov:UnknownUnknownUnkn")) }, identity.ReasonUnresolvableDID,
			func(p *identity.Policy) { p.TrustedIssuers = []string{"did:sov:UnknownUnknownUnkn"} }, func(c *identity.VerifierConfig) { c.Resolver = uniResolver }},
		{"did/unknown DID method", func() []byte { return w.ldVP(sovVC("did:example:123")) }, identity.ReasonUnsupportedDIDMethod,
			func(p *identity.Policy) { p.TrustedIssuers = []string{"did:example:123"} }, func(c *identity.VerifierConfig) { c.Resolver = uniResolver }},
		{"did/did:peer:0 holder", func() []byte {
			peer := "did:peer:0" + strings.TrimPrefix(w.holder.did(), "did:key:")
			vc, _ := w.iss.Issue(peer, demoClaims, w.opts())
			vp, _ := identity.Present(identity.Presentation{Holder: peer, VerificationMethod: peer + "#" + strings.TrimPrefix(w.holder.did(), "did:key:"),
				Credentials: []json.RawMessage{vc}, Challenge: testChallenge, Domain: testDomain}, identity.Ed25519Signer(w.holder.priv), w.f.loader)
			return vp
		}, "", nil, nil},

		{"did/did:peer:2 holder", func() []byte { return peerVP(peerDID, peerDID+"#key-2") }, "", nil, nil},
		{"did/did:peer:2 holder signing as its key agreement key", func() []byte { return peerVP(peerDID, peerDID+"#key-1") },
			identity.ReasonUnresolvableDID, nil, nil},
		{"did/malformed did:peer:2 holder", func() []byte {
			bad := peer2("V"+holderMultikey[:20], "Qz6Mk")
			return peerVP(bad, bad+"#key-1")
		}, identity.ReasonUnresolvableDID, nil, nil},

		// Envelopes
		{"envelope/5 MiB body", func() []byte { return []byte(`"` + strings.Repeat("a", 5<<20) + `"`) }, identity.ReasonMalformed, nil, nil},
		{"envelope/empty body", func() []byte { return []byte("  ") }, identity.ReasonMalformed, nil, nil},
		{"envelope/binary garbage", func() []byte { return []byte{0xff, 0x00, 0x01} }, identity.ReasonMalformed, nil, nil},
		{"envelope/deeply nested VP-JWT payload", func() []byte {
			s, _ := identity.SignJWT(map[string]any{"kid": w.holder.vm()}, json.RawMessage(strings.Repeat(`{"a":`, 100)+"1"+strings.Repeat("}", 100)), identity.Ed25519Signer(w.holder.priv))
			return []byte(s)
		}, identity.ReasonMalformed, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := w.policy()
			if tc.policy != nil {
				tc.policy(p)
			}
			cfg := identity.VerifierConfig{}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if cfg.Status == noStatus {
				cfg.Status = nil
				cfg.Resolver = identity.OfflineMethods()
				cfg.Loader, cfg.Now = w.f.loader, func() time.Time { return w.f.now }
				v, _ := identity.NewVerifier(cfg)
				res, err := v.Verify(ctx, tc.raw(), w.req(p))
				assertRefused(t, res, err, tc.want)
				return
			}
			res, err := w.verifier(cfg).Verify(ctx, tc.raw(), w.req(p))
			t.Logf("%v", err)
			assertRefused(t, res, err, tc.want)
		})
	}
}

// noStatus marks a case whose verifier has no status fetcher.
var noStatus = &status.Fetcher{}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, errUnreachable }

var errUnreachable = &netError{}

type netError struct{}

func (*netError) Error() string { return "connection refused" }

func TestReplayAcrossVerifiers(t *testing.T) {
	w := newWorld(t)
	guard := identity.NewMemoryReplayGuard(nil)
	vp := w.ldVP(w.ldVC(w.opts()))
	a, b := w.verifier(identity.VerifierConfig{Replay: guard}), w.verifier(identity.VerifierConfig{Replay: guard})
	if _, err := a.Verify(context.Background(), vp, w.req(nil)); err != nil {
		t.Fatal(err)
	}
	res, err := b.Verify(context.Background(), vp, w.req(nil))
	assertRefused(t, res, err, identity.ReasonReplayed)
}

func TestStatusListsAreCached(t *testing.T) {
	w := newWorld(t)
	u := w.statusList("/s/cached", "revocation", true, 1)
	opt := w.opts()
	opt.Status = &issuer.Status{ListURL: u, Index: 2, Bitstring: true}
	vc := w.jwtVC(opt)
	v := w.verifier(identity.VerifierConfig{Replay: forgetful{}})
	for range 3 {
		if _, err := v.Verify(context.Background(), w.jwtVP([]string{vc}, nil), w.req(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.hits.Load(); n != 1 {
		t.Fatalf("%d fetches of one list, want 1", n)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
