package identity_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/outbound"
	"github.com/hearro/trustbroker/identity/sdjwt"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// The attacks of the review that found the verifier trusting what a holder can reshape, each
// reproduced as the review describes it, with a real credential from a real issuer, and each
// now refused with a stable reason (and nothing fetched where the case says so). A holder of
// a JSON-LD credential can rewrite its JSON freely as long as the statements the issuer
// signed stay the same; the verifier must read only those statements.

// Vocabulary IRIs the rewrites spell out in full.
const (
	credNS   = "https://www.w3.org/2018/credentials#"
	xsdDate  = "http://www.w3.org/2001/XMLSchema#dateTime"
	memberID = "https://hearro.dev/vocab#memberId"
)

// rewrite returns doc with f applied to its JSON: the holder's pen.
func rewrite(t testing.TB, doc json.RawMessage, f func(m map[string]any)) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each verification below has a verifier of its own: one that accepted would remember the
// challenge, and refuse the next as replayed whatever else it is.
func TestAttacksOnJSONLDAreRefused(t *testing.T) {
	w := newWorld(t)
	inlineOK := func() *identity.Policy { p := w.policy(); p.AllowInlineContexts = true; return p }

	t.Run("1 claim injection: an undefined memberId beside the signed one under its IRI", func(t *testing.T) {
		vc := rewrite(t, w.ldVC(w.opts()), func(m map[string]any) {
			m["@context"] = []any{identity.CredentialsV1Context, identity.Ed25519Signature2020Context, map[string]any{
				"VerifiedCustomer": "https://hearro.dev/vocab#VerifiedCustomer",
				"givenName":        "https://schema.org/givenName",
				"familyName":       "https://schema.org/familyName",
				// An @index alias of issuer: its index counts as a value, evening out the
				// value the undefined memberId drops.
				"issuerByIndex": map[string]any{"@id": credNS + "issuer", "@type": "@id", "@container": "@index"},
			}}
			m["issuerByIndex"] = map[string]any{"i": m["issuer"]}
			s := m["credentialSubject"].(map[string]any)
			s[memberID] = s["memberId"] // the signed value, under its IRI
			s["memberId"] = "99999"     // undefined here: not signed, not in the statements
		})
		res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), w.ldVP(vc), w.req(nil))
		assertRefused(t, res, err, identity.ReasonUnknownContext)

		// A policy that accepts inline contexts reads the signed value, never the injected one.
		res, err = w.verifier(identity.VerifierConfig{}).Verify(context.Background(), w.ldVP(vc), w.req(inlineOK()))
		assertRefused(t, res, err, "")
		if got := res.Claims["memberId"]; got != "12345" {
			t.Fatalf("memberId %v, want the signed 12345", got)
		}
	})

	t.Run("2 a stolen credential presented as the thief's own", func(t *testing.T) {
		thief := newKey(t)
		victimVC := w.ldVC(w.opts()) // issued to the world's holder
		vc := rewrite(t, victimVC, func(m map[string]any) {
			// One inline context in place of every published one: the credential's terms
			// defined as the issuer signed them, but credentialSubject left undefined and the
			// signed subject moved under an alias.
			m["@context"] = []any{map[string]any{
				"@version": 1.1, "id": "@id", "type": "@type",
				"VerifiableCredential": credNS + "VerifiableCredential",
				"VerifiedCustomer":     "https://hearro.dev/vocab#VerifiedCustomer",
				"issuer":               map[string]any{"@id": credNS + "issuer", "@type": "@id"},
				"issuanceDate":         map[string]any{"@id": credNS + "issuanceDate", "@type": xsdDate},
				"expirationDate":       map[string]any{"@id": credNS + "expirationDate", "@type": xsdDate},
				"subject":              map[string]any{"@id": credNS + "credentialSubject", "@type": "@id"},
				"givenName":            "https://schema.org/givenName",
				"familyName":           "https://schema.org/familyName",
				"memberId":             memberID,
				"issuerByIndex":        map[string]any{"@id": credNS + "issuer", "@type": "@id", "@container": "@index"},
				"givenNames":           map[string]any{"@id": "https://schema.org/givenName", "@container": "@index"},
				"familyNames":          map[string]any{"@id": "https://schema.org/familyName", "@container": "@index"},
				"memberIds":            map[string]any{"@id": memberID, "@container": "@index"},
			}, identity.Ed25519Signature2020Context} // the proof's terms
			signed := m["credentialSubject"].(map[string]any)
			// The thief's own id with the victim's claims, dropped as undefined: four values
			// the statements lack, evened out by four indexes.
			fake := map[string]any{"id": thief.did()}
			for _, c := range []string{"givenName", "familyName", "memberId"} {
				fake[c] = signed[c]
			}
			m["credentialSubject"] = fake
			m["subject"] = map[string]any{"id": signed["id"], "givenNames": map[string]any{"a": signed["givenName"]},
				"familyNames": map[string]any{"b": signed["familyName"]}, "memberIds": map[string]any{"c": signed["memberId"]}}
			m["issuerByIndex"] = map[string]any{"d": m["issuer"]}
		})
		// The thief's own presentation, in a context of their own too (a published one would
		// protect the terms the credential redefines), signed with the thief's key.
		vp, err := json.Marshal(map[string]any{
			"@context": []any{map[string]any{
				"@version": 1.1, "id": "@id", "type": "@type",
				"VerifiablePresentation": credNS + "VerifiablePresentation",
				"holder":                 map[string]any{"@id": credNS + "holder", "@type": "@id"},
				"verifiableCredential":   map[string]any{"@id": credNS + "verifiableCredential", "@type": "@id", "@container": "@graph"},
			}, identity.Ed25519Signature2020Context},
			"type": "VerifiablePresentation", "holder": thief.did(), "verifiableCredential": []any{json.RawMessage(vc)},
		})
		if err != nil {
			t.Fatal(err)
		}
		signedVP, err := identity.SignLD(vp, identity.Ed25519Signer(thief.priv), identity.LDProof{
			VerificationMethod: thief.vm(), Purpose: "authentication", Challenge: testChallenge, Domain: testDomain,
		}, w.f.loader)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), signedVP, w.req(nil))
		assertRefused(t, res, err, identity.ReasonUnknownContext)
		res, err = w.verifier(identity.VerifierConfig{}).Verify(context.Background(), signedVP, w.req(inlineOK()))
		assertRefused(t, res, err, identity.ReasonHolderMismatch)
	})

	t.Run("3 a revoked credential whose credentialStatus is written as its IRI", func(t *testing.T) {
		opt := w.opts()
		opt.Status = &issuer.Status{ListURL: w.statusList("/attack/revoked", "revocation", false, 7), Index: 7}
		vc := rewrite(t, w.ldVC(opt), func(m map[string]any) {
			m[credNS+"credentialStatus"] = m["credentialStatus"]
			delete(m, "credentialStatus")
		})
		hits := w.hits.Load()
		res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), w.ldVP(vc), w.req(nil))
		assertRefused(t, res, err, identity.ReasonRevoked)
		if w.hits.Load() == hits {
			t.Fatal("the status list was never consulted")
		}
	})

	t.Run("4 an expired credential whose expirationDate is written as its IRI", func(t *testing.T) {
		opt := issuer.Options{IssuedAt: w.f.now.Add(-48 * time.Hour), ValidFor: 24 * time.Hour}
		vc := rewrite(t, w.ldVC(opt), func(m map[string]any) {
			m[credNS+"expirationDate"] = map[string]any{"@value": m["expirationDate"], "@type": xsdDate}
			delete(m, "expirationDate")
		})
		res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), w.ldVP(vc), w.req(nil))
		assertRefused(t, res, err, identity.ReasonExpiredCredential)
	})

	t.Run("an issuer written as its IRI is the issuer the policy judges", func(t *testing.T) {
		other := newKey(t)
		// Signed by an untrusted issuer; the holder adds the trusted issuer's DID under
		// another spelling of issuer (identical statements would be needed to keep the
		// signature, so the statements now name two issuers).
		vc := w.f.vc(vcOpts{signer: other, beforeSign: func(vc map[string]any) {
			vc["issuer"] = other.did()
			vc["credentialSubject"].(map[string]any)["id"] = w.holder.did()
		}})
		vc = rewrite(t, vc, func(m map[string]any) { m[credNS+"issuer"] = map[string]any{"@id": w.issDID} })
		res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), w.ldVP(vc), w.req(nil))
		assertRefused(t, res, err, identity.ReasonMalformed)
	})
}

// countingServer is an HTTPS server that counts the requests it receives: a target the
// verifier must not reach.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(rw, "internal admin", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// webDID returns the did:web DID whose document is at srv's /internal/admin/did.json.
func webDID(srv *httptest.Server) string {
	u, _ := url.Parse(srv.URL)
	return "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A") + ":internal:admin"
}

func TestNothingIsFetchedBeforeTheCheapChecks(t *testing.T) {
	w := newWorld(t)
	target, hits := countingServer(t)
	client := target.Client()
	client.Timeout = 2 * time.Second
	resolver, err := identity.NewResolver(identity.ResolverConfig{WebClient: client})
	if err != nil {
		t.Fatal(err)
	}
	holder := webDID(target)
	webHolders := func() *identity.Policy {
		p := w.policy()
		p.HolderDIDMethods = []string{"key", "web"}
		return p
	}
	verify := func(vp []byte, p *identity.Policy) (*identity.Result, error) {
		v := w.verifier(identity.VerifierConfig{Resolver: resolver})
		return v.Verify(context.Background(), vp, identity.Request{Policy: p, Challenge: testChallenge, Domain: testDomain})
	}

	t.Run("5 a broken credential signature is refused before the holder is resolved", func(t *testing.T) {
		vc := rewrite(t, w.ldVC(w.opts()), func(m map[string]any) {
			m["credentialSubject"].(map[string]any)["id"] = holder // not what the issuer signed
		})
		vp := w.f.vp(vpOpts{holder: holder, vm: holder + "#key-1", vcs: []json.RawMessage{vc}})
		res, err := verify(vp, webHolders())
		assertRefused(t, res, err, identity.ReasonBadSignature)
		if n := hits.Load(); n != 0 {
			t.Fatalf("%d requests reached the holder's host before the credential's signature was checked", n)
		}
	})

	iss := newKey(t)
	t.Run("5 holder DIDs that need the network only where the policy allows them", func(t *testing.T) {
		vc := w.f.vc(vcOpts{signer: iss, beforeSign: func(vc map[string]any) {
			vc["issuer"] = iss.did()
			vc["credentialSubject"].(map[string]any)["id"] = holder
		}})
		p := w.policy()
		p.TrustedIssuers = []string{iss.did()}
		vp := w.f.vp(vpOpts{holder: holder, vm: holder + "#key-1", vcs: []json.RawMessage{vc}})
		res, err := verify(vp, p)
		assertRefused(t, res, err, identity.ReasonUnsupportedDIDMethod)
		if n := hits.Load(); n != 0 {
			t.Fatalf("%d requests reached a did:web holder's host that the policy does not allow", n)
		}
	})

	t.Run("5 a did:web holder on a loopback address is never connected to, and the wallet hears only the code", func(t *testing.T) {
		// The service's own client: no network allowed but the public ones.
		guarded, err := identity.NewResolver(identity.ResolverConfig{WebClient: outbound.New(outbound.Config{Timeout: 2 * time.Second})})
		if err != nil {
			t.Fatal(err)
		}
		vc := w.f.vc(vcOpts{signer: iss, beforeSign: func(vc map[string]any) {
			vc["issuer"] = iss.did()
			vc["credentialSubject"].(map[string]any)["id"] = holder
		}})
		p := webHolders()
		p.TrustedIssuers = []string{iss.did()}
		vp := w.f.vp(vpOpts{holder: holder, vm: holder + "#key-1", vcs: []json.RawMessage{vc}})
		res, err := w.verifier(identity.VerifierConfig{Resolver: guarded}).Verify(context.Background(), vp,
			identity.Request{Policy: p, Challenge: testChallenge, Domain: testDomain})
		assertRefused(t, res, err, identity.ReasonUnresolvableDID)
		if n := hits.Load(); n != 0 {
			t.Fatalf("%d connections reached a did:web holder on loopback", n)
		}
		told := identity.ReasonOf(err).Explain()
		for _, leak := range []string{"127.0.0.1", "HTTP", "refused", "not allowed"} {
			if strings.Contains(told, leak) {
				t.Errorf("the wallet is told %q, which says %q", told, leak)
			}
		}
	})

	t.Run("5 an untrusted issuer's did:web is never resolved", func(t *testing.T) {
		vc := w.f.vc(vcOpts{signer: iss, vm: holder + "#key-1", beforeSign: func(vc map[string]any) {
			vc["issuer"] = holder
			vc["credentialSubject"].(map[string]any)["id"] = w.holder.did()
		}})
		res, err := verify(w.ldVP(vc), w.policy())
		assertRefused(t, res, err, identity.ReasonUntrustedIssuer)
		if n := hits.Load(); n != 0 {
			t.Fatalf("%d requests reached an untrusted issuer's host", n)
		}
	})

	t.Run("5 a credential the policy does not ask for is neither resolved nor fetched", func(t *testing.T) {
		extra := w.f.vc(vcOpts{signer: iss, beforeSign: func(vc map[string]any) {
			vc["credentialSubject"].(map[string]any)["id"] = w.holder.did()
			vc["type"] = []any{"VerifiableCredential"}
			vc["issuer"] = holder
			vc["credentialStatus"] = map[string]any{"id": target.URL + "/status#1", "type": "StatusList2021Entry",
				"statusPurpose": "revocation", "statusListIndex": "1", "statusListCredential": target.URL + "/status"}
			vc["@context"] = append(vc["@context"].([]any), identity.StatusList2021Context)
		}, vm: holder + "#key-1"})
		res, err := verify(w.ldVP(w.ldVC(w.opts()), extra), w.policy())
		assertRefused(t, res, err, "")
		if n := hits.Load(); n != 0 {
			t.Fatalf("%d requests reached the host of a credential nobody asked for", n)
		}
	})
}

func TestJWTCredentialTimes(t *testing.T) {
	w := newWorld(t)
	iss := newKey(t)
	pol := w.policy()
	pol.TrustedIssuers = []string{iss.did()}
	dm2 := func(mutate func(payload map[string]any)) func(map[string]any) {
		return func(payload map[string]any) {
			vc := payload["vc"].(map[string]any)
			delete(payload, "vc")
			for k, v := range vc {
				payload[k] = v
			}
			payload["@context"] = []any{identity.CredentialsV2Context, identity.VerifiedCustomerContext}
			payload["issuer"] = payload["iss"]
			payload["validFrom"] = w.f.now.Add(-72 * time.Hour).UTC().Format(time.RFC3339)
			mutate(payload)
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(payload map[string]any)
		want   identity.Reason
	}{
		{"VC Data Model 2.0 with validFrom and a valid exp", func(p map[string]any) {}, ""},
		{"6 VC Data Model 2.0 with exp 47 hours past and no validUntil", dm2(func(p map[string]any) {
			p["exp"] = w.f.now.Add(-47 * time.Hour).Unix()
		}), identity.ReasonExpiredCredential},
		{"VC Data Model 2.0 with nbf in the future", dm2(func(p map[string]any) {
			p["nbf"] = w.f.now.Add(time.Hour).Unix()
		}), identity.ReasonNotYetValid},
		{"VC Data Model 2.0 issued (iat) in the future", dm2(func(p map[string]any) {
			p["iat"] = w.f.now.Add(time.Hour).Unix()
		}), identity.ReasonNotYetValid},
		{"VC Data Model 1.1 issued (iat) in the future", func(p map[string]any) {
			p["iat"] = w.f.now.Add(time.Hour).Unix()
		}, identity.ReasonNotYetValid},
		{"VC Data Model 1.1 with an expirationDate past and a later exp", func(p map[string]any) {
			p["vc"].(map[string]any)["expirationDate"] = w.f.now.Add(-time.Hour).UTC().Format(time.RFC3339)
		}, identity.ReasonExpiredCredential},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vc := w.jwtVCBy(identity.Ed25519Signer(iss.priv), iss.did(), iss.vm(), w.holder.did(), tc.mutate)
			res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), w.jwtVP([]string{vc}, nil), w.req(pol))
			assertRefused(t, res, err, tc.want)
		})
	}
	t.Run("a presentation issued (iat) in the future", func(t *testing.T) {
		vc := w.jwtVCBy(identity.Ed25519Signer(iss.priv), iss.did(), iss.vm(), w.holder.did(), nil)
		now := w.f.now
		vp, err := identity.SignJWT(map[string]any{"typ": "JWT", "kid": w.holder.vm()}, map[string]any{
			"iss": w.holder.did(), "aud": testDomain, "nonce": testChallenge,
			"iat": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(2 * time.Hour).Unix(),
			"vp": map[string]any{"@context": []any{identity.CredentialsV1Context}, "type": []any{"VerifiablePresentation"}, "verifiableCredential": []any{vc}},
		}, identity.Ed25519Signer(w.holder.priv))
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), []byte(vp), w.req(pol))
		assertRefused(t, res, err, identity.ReasonNotYetValid)
	})
}

// TestSDJWTWithDisclosableRegisteredClaimIsRefused: an issuer made a claim selectively
// disclosable that SD-JWT VC requires in the clear — the expiry, the validity start, the
// issue date, the holder binding, the status reference, the type, the issuer. The holder
// decides whether such a claim is shown: one that hides its exp never expires. Presenting such
// a credential is refused with disclosure_not_allowed, as are disclosures of the names RFC
// 9901 reserves. The same names deeper in the payload are ordinary claims.
func TestSDJWTWithDisclosableRegisteredClaimIsRefused(t *testing.T) {
	w := newWorld(t)
	iss := newKey(t)
	pol := w.policy()
	pol.TrustedIssuers = []string{iss.did()}
	jwk, err := identity.PublicJWK(w.holder.pub)
	if err != nil {
		t.Fatal(err)
	}
	var cnf map[string]any
	if err := json.Unmarshal(jwk, &cnf); err != nil {
		t.Fatal(err)
	}
	iat := w.f.now.Add(-time.Hour)
	// credential is the holder's SD-JWT VC with the demo claims and the names in disclosable
	// selectively disclosable; reserved are further disclosures under names no payload can
	// hold, referenced from the top level.
	credential := func(t *testing.T, extra map[string]any, disclosable []string, reserved map[string]any) string {
		t.Helper()
		payload := map[string]any{
			"iss": iss.did(), "sub": w.holder.did(), "vct": issuer.SDJWTType, "cnf": map[string]any{"jwk": cnf},
			"iat": iat.Unix(), "nbf": iat.Unix(), "exp": iat.Add(24 * time.Hour).Unix(),
		}
		names := slices.Clone(disclosable)
		for n, v := range demoClaims {
			payload[n] = v
			names = append(names, n)
		}
		maps.Copy(payload, extra)
		concealed, disclosures, err := sdjwt.Conceal(payload, names)
		if err != nil {
			t.Fatal(err)
		}
		list := slices.Collect(maps.Values(disclosures))
		for name, v := range reserved {
			d, digest, err := sdjwt.NewDisclosure(name, v)
			if err != nil {
				t.Fatal(err)
			}
			concealed["_sd"] = append(concealed["_sd"].([]any), digest)
			list = append(list, d)
		}
		token, err := identity.SignJWT(map[string]any{"typ": identity.TypeSDJWTVC, "kid": iss.vm()}, concealed, identity.Ed25519Signer(iss.priv))
		if err != nil {
			t.Fatal(err)
		}
		return sdjwt.Join(token, list)
	}
	// Nested: a claim "card" whose own "exp" is selectively disclosable.
	card, cardDisclosures, err := sdjwt.Conceal(map[string]any{"number": "**** 1234", "exp": "12/29"}, []string{"exp"})
	if err != nil {
		t.Fatal(err)
	}
	cardDisclosure := cardDisclosures["exp"]

	status := map[string]any{"status_list": map[string]any{"idx": 7, "uri": "https://status.example.com/1"}}
	tests := []struct {
		name        string
		extra       map[string]any
		disclosable []string
		reserved    map[string]any
		want        identity.Reason
	}{
		{"accepted/every registered claim in the clear", nil, nil, nil, ""},
		{"accepted/a nested exp is an ordinary claim", map[string]any{"card": card}, nil, nil, ""},
		{"exp disclosable", nil, []string{"exp"}, nil, identity.ReasonDisclosureNotAllowed},
		{"nbf disclosable", nil, []string{"nbf"}, nil, identity.ReasonDisclosureNotAllowed},
		{"iat disclosable", nil, []string{"iat"}, nil, identity.ReasonDisclosureNotAllowed},
		{"iss disclosable", nil, []string{"iss"}, nil, identity.ReasonDisclosureNotAllowed},
		{"cnf disclosable", nil, []string{"cnf"}, nil, identity.ReasonDisclosureNotAllowed},
		{"vct disclosable", nil, []string{"vct"}, nil, identity.ReasonDisclosureNotAllowed},
		{"status disclosable", map[string]any{"status": status}, []string{"status"}, nil, identity.ReasonDisclosureNotAllowed},
		{"vct#integrity disclosable", map[string]any{"vct#integrity": "sha256-abc"}, []string{"vct#integrity"}, nil, identity.ReasonDisclosureNotAllowed},
		{"exp, nbf and iat disclosable", nil, []string{"exp", "nbf", "iat"}, nil, identity.ReasonDisclosureNotAllowed},
		{"a disclosure named _sd_alg", nil, nil, map[string]any{"_sd_alg": "sha-256"}, identity.ReasonDisclosureNotAllowed},
		{"a disclosure named _sd", nil, nil, map[string]any{"_sd": []any{}}, identity.ReasonDisclosureNotAllowed},
		{"a disclosure named ...", nil, nil, map[string]any{"...": "x"}, identity.ReasonDisclosureNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sd := credential(t, tc.extra, tc.disclosable, tc.reserved)
			if tc.extra["card"] != nil {
				sd += cardDisclosure + "~"
			}
			// The holder presents everything it was given (the wallet's PresentSDJWT picks
			// disclosures by claim name).
			reveal := slices.Concat([]string{"givenName", "familyName", "memberId"}, tc.disclosable, slices.Collect(maps.Keys(tc.reserved)))
			if tc.extra["card"] != nil {
				reveal = append(reveal, "exp")
			}
			vp := w.sdPresent(sd, reveal, testChallenge, testDomain)
			if tc.extra["card"] != nil && !strings.Contains(string(vp), cardDisclosure) {
				t.Fatal("the nested exp is not disclosed: the case tests nothing")
			}
			res, err := w.verifier(identity.VerifierConfig{}).Verify(context.Background(), vp, w.req(pol))
			assertRefused(t, res, err, tc.want)
		})
	}
}
