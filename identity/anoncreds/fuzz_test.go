package anoncreds

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

// Every parser of untrusted input, and Verify, must return a value or an *Error, never
// panic. Seeds are the external vectors and a few malformed shapes; they run in go test.

func seedAll(f *testing.F, files ...[2]string) {
	for _, p := range files {
		f.Add(readTestdata(f, p[0], p[1]))
	}
	for _, s := range []string{``, `{}`, `[]`, `null`, `{"proof":{"proofs":[{}]}}`, `"1"`, `{"nonce":"-0"}`,
		`{"value":{"primary":{"n":"01"}}}`, `{"aggregated_proof":{"c_list":[[256]]}}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`} {
		f.Add([]byte(s))
	}
}

func mustBeRefusal(t *testing.T, err error) {
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("error is not an *anoncreds.Error: %v", err)
	}
}

func FuzzParsePresentation(f *testing.F) {
	seedAll(f, [2]string{"indysdk-ledger", "presentation.json"}, [2]string{"indysdk-gvt", "presentation.json"})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParsePresentation(b)
		mustBeRefusal(t, err)
	})
}

func FuzzParseCredentialDefinition(f *testing.F) {
	seedAll(f, [2]string{"indysdk-ledger", "creddef.json"}, [2]string{"indysdk-gvt", "creddef.json"})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseCredentialDefinition(b)
		mustBeRefusal(t, err)
	})
}

func FuzzParsePresentationRequest(f *testing.F) {
	seedAll(f, [2]string{"indysdk-ledger", "request.json"}, [2]string{"indysdk-gvt", "request.json"})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParsePresentationRequest(b)
		mustBeRefusal(t, err)
	})
}

func FuzzParseSchema(f *testing.F) {
	seedAll(f, [2]string{"indysdk-ledger", "schema.json"}, [2]string{"indysdk-gvt", "schema.json"})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseSchema(b)
		mustBeRefusal(t, err)
	})
}

// FuzzVerify varies the request and the presentation against the ledger vector's schema and
// credential definition. Only the unchanged pair may verify.
func FuzzVerify(f *testing.F) {
	v := externalVectors(f)[0]
	f.Add(v.request, v.presentation)
	f.Add(readTestdata(f, "indysdk-gvt", "request.json"), v.presentation)
	f.Add(v.request, readTestdata(f, "indysdk-gvt", "presentation.json"))
	s, err := ParseSchema(v.schema)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, reqB, presB []byte) {
		req, err := ParsePresentationRequest(reqB)
		if err != nil {
			mustBeRefusal(t, err)
			return
		}
		pres, err := ParsePresentation(presB)
		if err != nil {
			mustBeRefusal(t, err)
			return
		}
		d, err := ParseCredentialDefinition(v.credDef)
		if err != nil {
			t.Fatal(err)
		}
		defs := Definitions{Schemas: map[string]*Schema{v.schemaID: s}, CredDefs: map[string]*CredentialDefinition{v.credDefID: d}}
		res, err := Verify(req, pres, defs)
		mustBeRefusal(t, err)
		if err == nil && (res == nil || len(res.Verified.Credentials) != len(pres.Proof.Proofs)) {
			t.Fatalf("verified without a result")
		}
	})
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "0", "-0", "+7", "007", "2147483647", "2147483648", "-2147483648", "-2147483649", " 7", "7.0", "1e3", "0x10", "Alex"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e := Encode(raw)
		if e.Cmp(big.NewInt(math.MinInt32)) < 0 {
			t.Fatalf("Encode(%q) = %v", raw, e)
		}
		if !EncodingMatches(raw, e) {
			t.Fatal("EncodingMatches disagrees with Encode")
		}
	})
}
