package identity_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/didcomm"
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

// presentationMessage is a present-proof 2.0 presentation message carrying attachments
// (@id → inline data), declared as DIF submissions in formats.
func presentationMessage(formats []didcomm.Format, attachments ...didcomm.Attachment) []byte {
	b, _ := json.Marshal(didcomm.PresentationV2{ID: "pres-1", Type: didcomm.TypePresentationV2,
		Thread: &didcomm.Thread{ID: "thread-1"}, Formats: formats, Attachments: attachments})
	return b
}

func submission(id string) []didcomm.Format {
	return []didcomm.Format{{AttachID: id, Format: didcomm.FormatPESubmission}}
}

// FuzzPresentationMessage follows a wallet's present-proof message the way the service reads
// it: the DIDComm message as aries-framework-go parses it, decoded with didcomm.Decode, its DIF
// submission attachment found and read (JSON or base64), and what it holds verified. Whatever
// the message, nothing panics, and a refusal has a reason and no identity. The seeds are the
// shapes wallets send; `go test` checks that each good one is accepted.
func FuzzPresentationMessage(f *testing.F) {
	w := newWorld(f)
	ld := w.ldVP(w.ldVC(w.opts()))
	vpJWT := w.jwtVP([]string{w.jwtVC(w.opts())}, nil) // a JSON string
	sd := w.sdPresent(w.sdJWT(w.opts()), []string{"givenName", "familyName", "memberId"}, testChallenge, testDomain)
	sdJSON, _ := json.Marshal(string(sd))
	good := [][]byte{
		presentationMessage(submission("vp"), didcomm.Attachment{ID: "vp", MimeType: "application/ld+json", Data: didcomm.AttachmentData{JSON: ld}}),
		presentationMessage(submission("vp"), didcomm.Attachment{ID: "vp", Data: didcomm.AttachmentData{Base64: base64.StdEncoding.EncodeToString(ld)}}),
		presentationMessage(submission("jwt"), didcomm.Attachment{ID: "other", Data: didcomm.AttachmentData{JSON: json.RawMessage(`{}`)}},
			didcomm.Attachment{ID: "jwt", Data: didcomm.AttachmentData{JSON: vpJWT}}),
		presentationMessage(submission("sd"), didcomm.Attachment{ID: "sd", Data: didcomm.AttachmentData{JSON: sdJSON}}),
		presentationMessage(nil, didcomm.Attachment{ID: "only", Data: didcomm.AttachmentData{Base64: base64.RawURLEncoding.EncodeToString(sd)}}),
	}
	legacy := bytes.Replace(good[0], []byte(didcomm.PresentProofV2), []byte("did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/present-proof/2.0/"), 1)
	good = append(good, legacy)
	bad := [][]byte{
		presentationMessage(submission("missing"), didcomm.Attachment{ID: "vp", Data: didcomm.AttachmentData{JSON: ld}}),
		presentationMessage(nil, didcomm.Attachment{ID: "a", Data: didcomm.AttachmentData{JSON: ld}}, didcomm.Attachment{ID: "b", Data: didcomm.AttachmentData{JSON: ld}}),
		presentationMessage(submission("vp"), didcomm.Attachment{ID: "vp", Data: didcomm.AttachmentData{Base64: "not base64!"}}),
		presentationMessage([]didcomm.Format{{AttachID: "vp", Format: "hlindy/proof@v2.0"}}, didcomm.Attachment{ID: "vp", Data: didcomm.AttachmentData{JSON: ld}}),
		[]byte(`{"@type":"https://didcomm.org/present-proof/2.0/presentation","presentations~attach":[{"@id":"x","data":{"json":null,"base64":""}}]}`),
		[]byte(`{"@type":"https://didcomm.org/present-proof/2.0/presentation","formats":"vp","presentations~attach":{"@id":"x"}}`),
		[]byte(`[]`),
	}
	v := w.verifier(identity.VerifierConfig{Replay: forgetful{}})
	p := w.policy()
	verify := func(t testing.TB, raw []byte) (res *identity.Result, reached bool, err error) {
		msg, err := service.ParseDIDCommMsgMap(raw)
		if err != nil {
			return nil, false, nil
		}
		var pres didcomm.PresentationV2
		if err := didcomm.Decode(msg, &pres); err != nil {
			return nil, false, nil
		}
		vp, err := pres.Submission()
		if err != nil {
			return nil, false, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err = v.Verify(ctx, vp, w.req(p))
		if err != nil && res != nil {
			t.Fatal("a refusal returned an identity")
		}
		if err != nil && identity.ReasonOf(err) == "" && ctx.Err() == nil {
			t.Fatalf("refusal without a reason: %v", err)
		}
		return res, true, err
	}
	for i, m := range good {
		if res, reached, err := verify(f, m); !reached || err != nil || res == nil {
			f.Fatalf("good seed %d: reached the verifier %v, %v", i, reached, err)
		}
	}
	for i, m := range bad {
		if _, reached, err := verify(f, m); reached && err == nil {
			f.Fatalf("bad seed %d was accepted", i)
		}
	}
	for _, m := range append(good, bad...) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { verify(t, raw) })
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
