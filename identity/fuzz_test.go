package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/sdjwt"
	"github.com/hearro/trustbroker/identity/status"
)

// fuzzSeeds are valid presentations of every format and a few broken ones; `go test` runs
// them as ordinary tests, `go test -fuzz` starts from them.
func fuzzSeeds(f *testing.F) (*world, [][]byte) {
	w := newWorld(f)
	seeds := [][]byte{
		w.ldVP(w.ldVC(w.opts())),
		w.jwtVP([]string{w.jwtVC(w.opts())}, nil),
		w.sdPresent(w.sdJWT(w.opts()), []string{"givenName", "familyName", "memberId"}, testChallenge, testDomain),
		w.ldVP(w.bbsVC([]string{"givenName", "familyName", "memberId"}, w.opts())),
		[]byte(`{"@context":["https://www.w3.org/2018/credentials/v1"],"type":"VerifiablePresentation","holder":"did:key:z6Mk","proof":{"type":"Ed25519Signature2020"}}`),
		[]byte(`"eyJhbGciOiJFZERTQSJ9.e30.c2ln"`),
		[]byte(`eyJhbGciOiJFZERTQSIsInR5cCI6InZjK3NkLWp3dCJ9.e30.c2ln~WyJzIiwibiIsInYiXQ~`),
		[]byte(`[{"a":[{"b":null}]}]`),
	}
	return w, seeds
}

// FuzzVerify: whatever a wallet sends, Verify refuses it with a reason or accepts it, and
// never panics.
func FuzzVerify(f *testing.F) {
	w, seeds := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	v := w.verifier(identity.VerifierConfig{Replay: forgetful{}})
	p := w.policy()
	f.Fuzz(func(t *testing.T, raw []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := v.Verify(ctx, raw, w.req(p))
		if err != nil && res != nil {
			t.Fatal("a refusal returned a result")
		}
		if err != nil && identity.ReasonOf(err) == "" && ctx.Err() == nil {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

// FuzzSDJWT: splitting and revealing hostile SD-JWTs never panics.
func FuzzSDJWT(f *testing.F) {
	f.Add("eyJhbGciOiJFZERTQSJ9.eyJfc2QiOlsiYWJjIl19.c2ln~WyJzIiwibiIsInYiXQ~", `{"_sd":["x"],"a":[{"...":"y"}]}`)
	f.Add("a~b~c", `{"_sd_alg":"sha-256","_sd":[1]}`)
	f.Fuzz(func(t *testing.T, token, payload string) {
		p, err := sdjwt.Split(token)
		if err != nil {
			return
		}
		var m map[string]any
		if jsonUnmarshal(payload, &m) != nil || m == nil {
			return
		}
		_, _ = sdjwt.Reveal(m, p.Disclosures)
	})
}

// FuzzStatusList: decoding hostile encoded lists never panics nor allocates beyond the limit.
func FuzzStatusList(f *testing.F) {
	list := status.New(64, 1)
	list.Set(3, 1, 1)
	enc, _ := status.Encode(list, true)
	f.Add(enc, 3)
	f.Add("H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA", 0)
	f.Fuzz(func(t *testing.T, encoded string, index int) {
		b, err := status.Decode(encoded, 1<<16)
		if err != nil {
			return
		}
		if len(b) > 1<<16 {
			t.Fatal("limit exceeded")
		}
		_, _ = b.Get(index, 1)
	})
}

// FuzzDIDDocument: parsing hostile DID documents and DIDs never panics.
func FuzzDIDDocument(f *testing.F) {
	f.Add("did:web:example.com", `{"id":"did:web:example.com","verificationMethod":[{"id":"#k","type":"JsonWebKey2020","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}}],"authentication":["#k"]}`)
	f.Add("did:peer:2.Vz6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK.Ez6LS", `{}`)
	f.Add("did:jwk:eyJrdHkiOiJPS1AiLCJjcnYiOiJFZDI1NTE5IiwieCI6IkFBQUEifQ", `{}`)
	f.Fuzz(func(t *testing.T, did, doc string) {
		_, _ = identity.ParseDIDDocument(did, []byte(doc))
		_, _ = identity.OfflineMethods().Resolve(context.Background(), did)
		_, _ = identity.WebDIDURL(did)
	})
}
