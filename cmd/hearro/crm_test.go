package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/crypto/bcrypt"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/broker/storetest"
	"github.com/hearro/trustbroker/internal/testenv/bolttest"
)

type identityJSON struct {
	ID           string            `json:"id"`
	FlexIdentity string            `json:"flex_identity"`
	HolderDID    string            `json:"holder_did"`
	Issuer       string            `json:"issuer"`
	Claims       map[string]string `json:"claims"`
	ConnectionID string            `json:"connection_id"`
	VerifiedAt   time.Time         `json:"verified_at"`
}

// verifyCustomer runs a whole session with a fresh wallet (a new customer) and returns the
// identity it produced.
func (s *testService) verifyCustomer(t *testing.T, claims string) identityJSON {
	t.Helper()
	c := s.createSession(t)
	if _, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) { w.Claims = claims }); err != nil {
		t.Fatalf("wallet: %v\n%s", err, progress)
	}
	st := s.waitStatus(t, c, "bound")
	var ident identityJSON
	if code := getJSON(t, s.url+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), &ident); code != 200 {
		t.Fatalf("GET identity: %d", code)
	}
	return ident
}

func listIDs(t *testing.T, s *testService, query string, pageSize int, between func()) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for {
		q := query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Items      []identityJSON `json:"items"`
			NextCursor string         `json:"next_cursor"`
		}
		u := fmt.Sprintf("%s/v1/identities?limit=%d%s", s.url, pageSize, q)
		if code := getJSON(t, u, s.crmToken(t, "identities:read"), &page); code != 200 {
			t.Fatalf("GET %s: %d", u, code)
		}
		for _, x := range page.Items {
			ids = append(ids, x.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		cursor = page.NextCursor
		if between != nil {
			between()
		}
	}
}

func TestCRMIdentities(t *testing.T) {
	s := startTestService(t)
	ada := s.verifyCustomer(t, "givenName=Ada,familyName=Lovelace,memberId=100")
	grace := s.verifyCustomer(t, "givenName=Grace,familyName=Hopper,memberId=200")
	alan := s.verifyCustomer(t, "givenName=Alan,familyName=Turing,memberId=100")
	all := []string{ada.ID, grace.ID, alan.ID}

	t.Run("list in creation order, paged, stable while customers are verified", func(t *testing.T) {
		var late []string
		got := listIDs(t, s, "", 1, func() {
			if len(late) == 0 {
				late = append(late, s.verifyCustomer(t, "givenName=Katherine,familyName=Johnson,memberId=300").ID)
			}
		})
		if want := append(slices.Clone(all), late...); !slices.Equal(got, want) {
			t.Fatalf("paged %v, want %v", got, want)
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"&claims.memberId=100", []string{ada.ID, alan.ID}},
			{"&claims.memberId=100&claims.givenName=Alan", []string{alan.ID}},
			{"&issuer=" + url.QueryEscape(ada.Issuer) + "&claims.memberId=200", []string{grace.ID}},
			{"&credential_type=Employee", nil},
			{"&verified_since=" + url.QueryEscape(grace.VerifiedAt.Format(time.RFC3339Nano)) + "&claims.memberId=100", []string{alan.ID}},
			{"&verified_until=" + url.QueryEscape(grace.VerifiedAt.Format(time.RFC3339Nano)), []string{ada.ID}},
		} {
			if got := listIDs(t, s, tc.query, 2, nil); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
			}
		}
	})
	t.Run("by flex identity, what the agent's CRM panel calls", func(t *testing.T) {
		var got identityJSON
		if code := getJSON(t, s.url+"/v1/identities/by-flex/"+grace.FlexIdentity, s.crmToken(t, "identities:read"), &got); code != 200 || got.ID != grace.ID {
			t.Fatalf("%d %+v", code, got)
		}
	})
	t.Run("connections list the customers' wallets", func(t *testing.T) {
		var list struct {
			Items []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"items"`
		}
		if code := getJSON(t, s.url+"/v1/connections", s.crmToken(t, "identities:read"), &list); code != 200 {
			t.Fatal(code)
		}
		var ids []string
		for _, c := range list.Items {
			ids = append(ids, c.ID)
			if c.State != "completed" {
				t.Errorf("connection %s is %s", c.ID, c.State)
			}
		}
		for _, x := range []identityJSON{ada, grace, alan} {
			if !slices.Contains(ids, x.ConnectionID) {
				t.Errorf("connection %s of %s not listed", x.ConnectionID, x.ID)
			}
		}
	})
	t.Run("erasure", func(t *testing.T) {
		resp, body := do(t, "DELETE", s.url+"/v1/identities/"+grace.ID, map[string]string{"Authorization": s.crmToken(t, "identities:write")}, "")
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
		}
		for _, path := range []string{"/v1/identities/" + grace.ID, "/v1/identities/by-flex/" + grace.FlexIdentity} {
			if code := getJSON(t, s.url+path, s.crmToken(t, "identities:read"), nil); code != 404 {
				t.Errorf("%s after erasure: %d", path, code)
			}
		}
		if got := listIDs(t, s, "&claims.memberId=200", 10, nil); len(got) != 0 {
			t.Errorf("erased identity still listed: %v", got)
		}
		resp, _ = do(t, "DELETE", s.url+"/v1/identities/"+grace.ID, map[string]string{"Authorization": s.crmToken(t, "identities:write")}, "")
		if resp.StatusCode != 404 {
			t.Errorf("second DELETE: %d", resp.StatusCode)
		}
	})
}

// theirDID returns the wallet's DID on one of the service's DIDComm connections.
func theirDID(t *testing.T, s *testService, connectionID string) string {
	t.Helper()
	var conns struct {
		Items []struct {
			ID       string `json:"id"`
			TheirDID string `json:"their_did"`
		} `json:"items"`
	}
	getJSON(t, s.url+"/v1/connections", s.crmToken(t, "identities:read"), &conns)
	for _, c := range conns.Items {
		if c.ID == connectionID && c.TheirDID != "" {
			return c.TheirDID
		}
	}
	t.Fatalf("connection %s is not listed: %+v", connectionID, conns.Items)
	return ""
}

// TestErasureLeavesNoTrace erases a customer, stops the service and reads every bucket of the
// store file: neither the identity's ID, its pseudonym, its holder DID, its connection, the
// wallet's DID on that connection (whose document the DIDComm agent stored) nor a claim value
// remains anywhere. The CRM's webhook endpoint refuses every event but the erasure,
// so the customer's identity.verified and session.bound events are still queued (and carry the
// claims) when the erasure comes: it must take them too.
func TestErasureLeavesNoTrace(t *testing.T) {
	recv, endpoint := startReceiver(t)
	recv.accept = func(typ string) bool { return typ == "identity.erased" }
	s := startTestServiceWith(t, func(c *serveConfig) { c.WebhookURLs = []string{endpoint} })
	recv.trustKeysOf(t, s)
	gone := s.verifyCustomer(t, "givenName=Zebulon,familyName=Quixotic,memberId=Q-9071")
	kept := s.verifyCustomer(t, "givenName=Ada,familyName=Lovelace,memberId=100")
	waitFor(t, "the identity.verified deliveries to be tried", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return len(recv.attempts) >= 2
	})
	// The wallets' own DIDs on their connections (their peer DID documents are stored).
	goneDID, keptDID := theirDID(t, s, gone.ConnectionID), theirDID(t, s, kept.ConnectionID)
	if resp, _ := do(t, "DELETE", s.url+"/v1/identities/"+gone.ID, map[string]string{"Authorization": s.crmToken(t, "identities:write")}, ""); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	waitFor(t, "identity.erased", func() bool { return slices.Contains(recv.eventTypes(), "identity.erased") })
	// The erasure at Twilio keeps the pseudonym until it is done.
	s.waitErasure(t, gone.ID, "done", func(st erasureStatus) bool { return st.Status == "done" })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.NoTrace(t, bolttest.Dump(t, filepath.Join(s.cfg.DataDir, "hearro.db")), map[string]string{
		"identity ID": gone.ID, "pseudonym": gone.FlexIdentity, "holder DID": gone.HolderDID, "connection ID": gone.ConnectionID,
		"wallet's peer DID": goneDID, "givenName": "Zebulon", "familyName": "Quixotic", "memberId": "Q-9071",
	}, map[string]string{ // the scan can find things
		"identity ID": kept.ID, "pseudonym": kept.FlexIdentity, "holder DID": kept.HolderDID, "wallet's peer DID": keptDID,
		"familyName": "Lovelace",
	})
}

func TestCRMAuth(t *testing.T) {
	// A CRM client with a hashed secret, from a clients file.
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-s3cret-s3cret"), bcrypt.MinCost)
	clients := filepath.Join(dir, "clients.yaml")
	os.WriteFile(clients, []byte("clients:\n  - id: crm\n    secret_bcrypt: \""+string(hash)+"\"\n    scopes: [identities:read, sessions:write]\n"), 0o600)

	// An external identity provider with its own key and JWKS.
	idpKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	idpJWK, _ := jwk.FromRaw(idpKey)
	idpJWK.Set(jwk.KeyIDKey, "idp-1")
	idpPub, _ := idpJWK.PublicKey()
	set := jwk.NewSet()
	set.AddKey(idpPub)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(set) }))
	defer idp.Close()
	idpToken := func(aud string, scopes string) string {
		tok, _ := jwt.NewBuilder().Issuer("https://idp.example.com").Audience([]string{aud}).Subject("crm-app").
			Expiration(time.Now().Add(time.Hour)).Claim("scope", scopes).Build()
		b, _ := jwt.Sign(tok, jwt.WithKey(jwa.ES256, idpJWK))
		return "Bearer " + string(b)
	}
	// idpTokenLiving is a token of the provider issued now (iat) that expires after life, or
	// never when life is 0.
	idpTokenLiving := func(life time.Duration) string {
		now := time.Now()
		b := jwt.NewBuilder().Issuer("https://idp.example.com").Audience([]string{"hearro-api"}).Subject("crm-app").
			IssuedAt(now).Claim("scope", "identities:read")
		if life != 0 {
			b = b.Expiration(now.Add(life))
		}
		tok, _ := b.Build()
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, idpJWK))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + string(signed)
	}

	s := startTestServiceWith(t, func(c *serveConfig) {
		c.OAuthClientsFile = clients
		c.OAuthJWKSURL, c.OAuthIssuer = idp.URL, "https://idp.example.com"
		c.OutboundAllowNetworks = []string{"127.0.0.0/8"} // the identity provider is on loopback
	})
	expired, _, _ := s.access.Mint("x", []string{"identities:read"}, -time.Minute)
	ada := s.verifyCustomer(t, "givenName=Ada,familyName=Lovelace,memberId=1")
	identity := s.url + "/v1/identities/" + ada.ID

	token := func(t *testing.T, form url.Values, basic bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth("crm", "s3cret-s3cret-s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	t.Run("client credentials grant, then the identity API", func(t *testing.T) {
		code, out := token(t, url.Values{"grant_type": {"client_credentials"}}, true)
		if code != 200 || out["token_type"] != "Bearer" || out["scope"] != "identities:read sessions:write" {
			t.Fatalf("%d %v", code, out)
		}
		if c := getJSON(t, identity, "Bearer "+out["access_token"].(string), nil); c != 200 {
			t.Fatalf("with the token: %d", c)
		}
		code, out = token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"identities:read"},
			"client_id": {"crm"}, "client_secret": {"s3cret-s3cret-s3cret"}}, false)
		if code != 200 || out["scope"] != "identities:read" {
			t.Fatalf("form credentials, narrowed scope: %d %v", code, out)
		}
	})
	for _, tc := range []struct {
		name string
		form url.Values
		auth bool
		code int
		err  string
	}{
		{"400/unsupported grant", url.Values{"grant_type": {"password"}}, true, 400, "unsupported_grant_type"},
		{"400/scope the client does not have", url.Values{"grant_type": {"client_credentials"}, "scope": {"identities:write"}}, true, 400, "invalid_scope"},
		{"401/wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"crm"}, "client_secret": {"nope"}}, false, 401, "invalid_client"},
		{"401/unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"who"}, "client_secret": {"s3cret-s3cret-s3cret"}}, false, 401, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := token(t, tc.form, tc.auth)
			if code != tc.code || out["error"] != tc.err || out["code"] != tc.err {
				t.Fatalf("%d %v", code, out)
			}
		})
	}
	// The provider's genuine tokens that never expire, or live too long: refused, each with a
	// code of its own.
	for _, tc := range []struct {
		name string
		life time.Duration
		code string
	}{
		{"401/external token without exp", 0, "token_without_expiry"},
		{"401/external token living 30 days", 30 * 24 * time.Hour, "token_lifetime_too_long"},
		{"401/external token living a minute past the maximum", 24*time.Hour + time.Minute, "token_lifetime_too_long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", identity, map[string]string{"Authorization": idpTokenLiving(tc.life)}, "")
			var p api.Problem
			if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 401 || p.Code != tc.code ||
				resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
			}
		})
	}
	for _, tc := range []struct {
		name, method, url, auth string
		code                    int
	}{
		{"401/no token", "GET", identity, "", 401},
		{"401/expired token", "GET", identity, "Bearer " + expired, 401},
		{"401/session token is not a CRM token", "GET", identity, "Bearer " + s.createSession(t).SessionToken, 401},
		{"401/external token for another audience", "GET", identity, idpToken("someone-else", "identities:read"), 401},
		{"403/read scope cannot erase", "DELETE", identity, s.crmToken(t, "identities:read"), 403},
		{"403/write scope cannot read", "GET", identity, s.crmToken(t, "identities:write"), 403},
		{"403/external token without the scope", "GET", identity, idpToken("hearro-api", "sessions:write"), 403},
		{"200/external token", "GET", identity, idpToken("hearro-api", "identities:read"), 200},
		{"200/external token living an hour after iat", "GET", identity, idpTokenLiving(time.Hour), 200},
		{"200/session read by the CRM", "GET", s.url + "/v1/sessions/" + s.createSession(t).ID, s.crmToken(t, "sessions:write"), 200},
		{"403/session read by the CRM without sessions:write", "GET", s.url + "/v1/sessions/" + s.createSession(t).ID, s.crmToken(t, "identities:read"), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			resp, body := do(t, tc.method, tc.url, h, "")
			if resp.StatusCode != tc.code {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, tc.code, body)
			}
		})
	}
	t.Run("JWKS publishes the key tokens verify with", func(t *testing.T) {
		resp, body := do(t, "GET", s.url+"/.well-known/jwks.json", nil, "")
		keys, err := jwk.Parse(body)
		if resp.StatusCode != 200 || err != nil || keys.Len() != 1 {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		tok, _, _ := s.access.Mint("x", []string{"identities:read"}, time.Minute)
		if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(keys)); err != nil {
			t.Fatalf("a token does not verify with the published key: %v", err)
		}
	})
}

func TestReturningCustomerVerifiesWithoutQRCode(t *testing.T) {
	s := startTestService(t)
	dir := t.TempDir() // the customer's phone keeps its wallet
	c := s.createSession(t)
	if _, _, err := runWallet(t, dir, c.InvitationURL, nil); err != nil {
		t.Fatal(err)
	}
	first := s.waitStatus(t, c, "bound")
	var ident identityJSON
	getJSON(t, s.url+"/v1/identities/"+first.IdentityID, s.crmToken(t, "identities:read"), &ident)

	// The wallet is not running now: the request cannot be delivered, and the session says so.
	resp, body := do(t, "POST", s.url+"/v1/connections/"+ident.ConnectionID+"/verify",
		map[string]string{"Authorization": s.crmToken(t, "sessions:write")}, "")
	var sess struct {
		ID, Status, Reason string
	}
	json.Unmarshal(body, &sess)
	if resp.StatusCode != 201 || sess.Status != "rejected" || sess.Reason != "wallet_unreachable" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		name, path, auth string
		code             int
	}{
		{"404/unknown connection", "/v1/connections/nope/verify", s.crmToken(t, "sessions:write"), 404},
		{"403/needs sessions:write", "/v1/connections/" + ident.ConnectionID + "/verify", s.crmToken(t, "identities:read"), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := do(t, "POST", s.url+tc.path, map[string]string{"Authorization": tc.auth}, ""); resp.StatusCode != tc.code {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestSessionCreationIsRateLimited(t *testing.T) {
	s := startTestServiceWith(t, func(c *serveConfig) { c.SessionRate, c.SessionBurst = 1, 3 })
	var codes []int
	for range 5 {
		resp, _ := do(t, "POST", s.url+"/v1/sessions", nil, "")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if fmt.Sprint(codes) != "[201 201 201 429 429]" {
		t.Fatalf("codes %v", codes)
	}
	// A CRM client has its own budget.
	resp, _ := do(t, "POST", s.url+"/v1/sessions", map[string]string{"Authorization": s.crmToken(t, "sessions:write")}, "")
	if resp.StatusCode != 201 {
		t.Fatalf("CRM client limited by the IP's budget: %d", resp.StatusCode)
	}
}

// TestCRMSessionReadHasNoChatToken: the CRM may follow a session, but the customer's Twilio
// access token is the customer's alone.
func TestCRMSessionReadHasNoChatToken(t *testing.T) {
	s := startTestService(t)
	c, st, _ := s.boundSession(t)
	var crm, customer map[string]any
	if code := getJSON(t, s.url+"/v1/sessions/"+c.ID, s.crmToken(t, "sessions:write"), &crm); code != 200 {
		t.Fatalf("CRM read: %d", code)
	}
	if crm["status"] != "bound" || crm["identity_id"] != st.IdentityID || crm["chat"] != nil {
		t.Fatalf("the CRM's view of a bound session: %v", crm)
	}
	getJSON(t, s.url+"/v1/sessions/"+c.ID, "Bearer "+c.SessionToken, &customer)
	if chat, _ := customer["chat"].(map[string]any); chat == nil || chat["token"] == "" {
		t.Fatalf("the customer's view lost its chat: %v", customer)
	}
}

// TestExternalJWKSRotation: the identity provider rotates its signing key. A token signed by
// the new key is accepted at once (its unknown key id makes the service fetch the JWKS again),
// the retired key stops working once the set no longer holds it, and tokens with made-up key
// ids cannot make the service hammer the provider.
func TestExternalJWKSRotation(t *testing.T) {
	newKey := func(kid string) jwk.Key {
		raw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k, _ := jwk.FromRaw(raw)
		k.Set(jwk.KeyIDKey, kid)
		return k
	}
	old, next, stranger := newKey("idp-1"), newKey("idp-2"), newKey("idp-3")
	var mu sync.Mutex
	published := []jwk.Key{old}
	fetches := 0
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		set := jwk.NewSet()
		for _, k := range published {
			pub, _ := k.PublicKey()
			set.AddKey(pub)
		}
		w.Header().Set("Cache-Control", "max-age=3600") // without a rotation, no refetch for an hour
		json.NewEncoder(w).Encode(set)
	}))
	defer idp.Close()
	publish := func(keys ...jwk.Key) { mu.Lock(); published = keys; mu.Unlock() }
	fetched := func() int { mu.Lock(); defer mu.Unlock(); return fetches }
	signed := func(k jwk.Key) string {
		tok, _ := jwt.NewBuilder().Issuer("https://idp.example.com").Audience([]string{"hearro-api"}).Subject("crm-app").
			JwtID(fmt.Sprint(time.Now().UnixNano())). // each token new: none is remembered as checked
			Expiration(time.Now().Add(time.Hour)).Claim("scope", "identities:read").Build()
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, k))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + string(b)
	}
	s := startTestServiceWith(t, func(c *serveConfig) {
		c.OAuthJWKSURL, c.OAuthIssuer = idp.URL, "https://idp.example.com"
		c.OutboundAllowNetworks = []string{"127.0.0.0/8"} // the identity provider is on loopback
	})
	list := s.url + "/v1/identities"

	if code := getJSON(t, list, signed(old), nil); code != 200 {
		t.Fatalf("token of the current key: %d", code)
	}
	base := fetched()

	// The provider rotates: the new key is published and used, the old one retired.
	publish(next)
	if code := getJSON(t, list, signed(next), nil); code != 200 {
		t.Fatalf("token of the rotated-in key: %d, want 200 without waiting for the cache", code)
	}
	if fetched() != base+1 {
		t.Fatalf("the rotation took %d JWKS fetches, want 1", fetched()-base)
	}
	if code := getJSON(t, list, signed(old), nil); code != 401 {
		t.Fatalf("token of the retired key: %d, want 401", code)
	}

	// Unknown key ids, again and again: at most one fetch per forced-refresh interval (the
	// refetch above was within it, so none now).
	for range 20 {
		if code := getJSON(t, list, signed(stranger), nil); code != 401 {
			t.Fatalf("token of a key the provider never published: %d", code)
		}
	}
	if n := fetched() - base - 1; n != 0 {
		t.Fatalf("20 tokens with an unknown key id made %d JWKS fetches within %s, want 0", n, jwksForcedRefresh)
	}
	if code := getJSON(t, list, signed(next), nil); code != 200 {
		t.Fatalf("the current key after the noise: %d", code)
	}
}
