package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// runIssuerCmd runs `hearro issuer` in-process with args.
func runIssuerCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCmd(newIssuerCmd(), args...)
	return out, err
}

// TestIssuerIssuesEveryFormat: what `hearro issuer issue --format F` prints, presented by its
// subject as a wallet would, passes the verifier under a policy that trusts the development
// issuer, with the claims given on the command line.
func TestIssuerIssuesEveryFormat(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edDID := identity.DIDKey(edPub)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256DID := identity.DIDKeyP256(&p256.PublicKey)
	holders := map[string]struct {
		did    string
		signer identity.Signer
	}{
		"Ed25519": {edDID, identity.Ed25519Signer(edPriv)},
		"P-256":   {p256DID, identity.P256Signer{Key: p256}},
	}
	bbsDID, err := issuer.Development().BBSDID()
	if err != nil {
		t.Fatal(err)
	}
	policy := identity.DevelopmentPolicy(issuer.DevelopmentDID())
	policy.TrustedIssuers = append(policy.TrustedIssuers, bbsDID)
	v, err := identity.NewVerifier(identity.VerifierConfig{})
	if err != nil {
		t.Fatal(err)
	}
	loader, err := identity.NewContextLoader()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"givenName": "Grace", "familyName": "Hopper", "memberId": "1906"}
	reveal := slices.Sorted(maps.Keys(want))

	for _, tc := range []struct {
		format identity.Format
		holder string
		args   []string
	}{
		{identity.FormatLDP, "Ed25519", nil},
		{identity.FormatLDP, "Ed25519", []string{"--proof-type", "Ed25519Signature2018"}},
		{identity.FormatLDP, "Ed25519", []string{"--proof-type", "JsonWebSignature2020"}},
		{identity.FormatBBS, "Ed25519", nil},
		{identity.FormatJWT, "Ed25519", nil},
		{identity.FormatJWT, "P-256", nil},
		{identity.FormatSDJWT, "Ed25519", nil},
		{identity.FormatSDJWT, "P-256", nil},
	} {
		h := holders[tc.holder]
		name := fmt.Sprintf("%s/%s/%s", tc.format, tc.holder, strings.Join(tc.args, "="))
		t.Run(name, func(t *testing.T) {
			out, err := runIssuerCmd(t, append([]string{"issue", "--subject", h.did, "--format", string(tc.format),
				"--claims", "givenName=Grace,familyName=Hopper,memberId=1906"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			cred := strings.TrimSpace(out)
			challenge, domain := rand.Text(), "https://broker.example"
			vm := h.did + "#" + strings.TrimPrefix(h.did, "did:key:")
			ldVP := func(vc []byte) []byte {
				vp, err := identity.Present(identity.Presentation{Holder: h.did, VerificationMethod: vm,
					Credentials: []json.RawMessage{vc}, Challenge: challenge, Domain: domain}, h.signer, loader)
				if err != nil {
					t.Fatal(err)
				}
				return vp
			}
			var vp []byte
			switch tc.format {
			case identity.FormatLDP:
				vp = ldVP([]byte(cred))
			case identity.FormatBBS:
				nonce := []byte(rand.Text())
				derived, err := identity.DeriveBBS(t.Context(), []byte(cred), reveal, nonce, identity.OfflineMethods(), loader)
				if err != nil {
					t.Fatal(err)
				}
				vp = ldVP(derived)
			case identity.FormatJWT:
				s, err := identity.PresentJWT(identity.JWTPresentation{Holder: h.did, KeyID: vm, Credentials: []string{cred},
					Challenge: challenge, Domain: domain}, h.signer)
				if err != nil {
					t.Fatal(err)
				}
				vp = []byte(s)
			case identity.FormatSDJWT:
				s, err := identity.PresentSDJWT(identity.SDJWTPresentation{SDJWT: cred, Reveal: reveal, Challenge: challenge, Domain: domain}, h.signer)
				if err != nil {
					t.Fatal(err)
				}
				vp = []byte(s)
			}
			res, err := v.Verify(t.Context(), vp, identity.Request{Policy: policy, Challenge: challenge, Domain: domain})
			if err != nil {
				t.Fatalf("the verifier refuses it: %v\n%s", err, cred)
			}
			if res.Format != tc.format || res.HolderDID != h.did {
				t.Errorf("verified as format %s for %s, want %s for %s", res.Format, res.HolderDID, tc.format, h.did)
			}
			for k, w := range want {
				if res.Claims[k] != w {
					t.Errorf("claim %s = %v, want %s", k, res.Claims[k], w)
				}
			}
		})
	}
}

// TestIssuerRefusesWhatItCannotIssue: the errors name the flag and what would work.
func TestIssuerRefusesWhatItCannotIssue(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown format":               {[]string{"--subject", identity.DIDKey(pub), "--format", "mdoc"}, `--format "mdoc": want one of [ldp bbs jwt sd-jwt]`},
		"sd-jwt for a DID with no key": {[]string{"--subject", "did:web:example.com", "--format", "sd-jwt"}, "--format sd-jwt binds the credential to the subject's key"},
		"subject not a DID":            {[]string{"--subject", "ada", "--format", "jwt"}, "subject must be a DID"},
		"unknown claim":                {[]string{"--subject", identity.DIDKey(pub), "--claims", "salary=1"}, `--claims: claim "salary": unknown`},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runIssuerCmd(t, append([]string{"issue"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
				t.Fatalf("%q, %v; want an error containing %q", out, err, tc.want)
			}
		})
	}
}
