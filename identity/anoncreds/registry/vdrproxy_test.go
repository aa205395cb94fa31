package registry

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	sovSchemaID  = "WpoQirzsNJK2MUZh3NtbF2:2:r-test6:0.0.6"
	sovCredDefID = "WpoQirzsNJK2MUZh3NtbF2:3:CL:13054:latest"
	nym          = "WgWxqztrNooG92RXvxSTWv"
)

// ledgerWithVectors is a ledger holding the Sovrin test-ledger schema and credential
// definition of ../testdata/indysdk-ledger (as GET_SCHEMA / GET_CLAIM_DEF replies in
// testdata/indy), and a revocation registry with three entries.
func ledgerWithVectors(t testing.TB) (*fakeLedger, string) {
	f := newFakeLedger()
	f.schemas[sovSchemaID] = readFile(t, "testdata/indy/get_schema_reply.json")
	f.credDefs[sovCredDefID] = readFile(t, "testdata/indy/get_cred_def_reply.json")
	cd := f.addCredDef(nym, 20, "revocable", map[string]any{"primary": map[string]any{}}, 21)
	rr := f.addRevReg(cd, "0", 8, "ISSUANCE_BY_DEFAULT")
	f.entries[rr] = []fakeEntry{
		{txnTime: 1733300300, issued: nil, accum: "21 124C594B6B20E41B681E92B2C43FD165EA9E68BC3C9D63A82C8893124983CAE94 21 124C5341937827427B0A3A32113BD5E64FB7AB39BD3E5ABDD7970874501CA4897 6 5438CB6F442E2F807812FD9DC0C39AFF4A86B1E6766DBB5359E86A4D70401B0F 4 39D1CA5C4716FFC4FE0853C4FF7F081DFD8DF8D2C2CA79705211680AC77BF3A1 6 70504A5493F89C97C225B68310811A41AD9CD889301F238E93C95AD085E84191 4 39582252194D756D5D86D0EED02BF1B95CE12AED2FA5CD3C53260747D891993C"},
		{txnTime: 1733300400, revoked: []int{3}, accum: "21 136D5F2A0D5B1F8F2D0B3D28A5B6F1E3C4A5B6C7D8E9F0A1B2C3D4E5F60718293 21 124C5341937827427B0A3A32113BD5E64FB7AB39BD3E5ABDD7970874501CA4897 6 5438CB6F442E2F807812FD9DC0C39AFF4A86B1E6766DBB5359E86A4D70401B0F 4 39D1CA5C4716FFC4FE0853C4FF7F081DFD8DF8D2C2CA79705211680AC77BF3A1 6 70504A5493F89C97C225B68310811A41AD9CD889301F238E93C95AD085E84191 4 39582252194D756D5D86D0EED02BF1B95CE12AED2FA5CD3C53260747D891993C"},
		{txnTime: 1733300500, issued: []int{3}, revoked: []int{5}, accum: "21 1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F8091 21 124C5341937827427B0A3A32113BD5E64FB7AB39BD3E5ABDD7970874501CA4897 6 5438CB6F442E2F807812FD9DC0C39AFF4A86B1E6766DBB5359E86A4D70401B0F 4 39D1CA5C4716FFC4FE0853C4FF7F081DFD8DF8D2C2CA79705211680AC77BF3A1 6 70504A5493F89C97C225B68310811A41AD9CD889301F238E93C95AD085E84191 4 39582252194D756D5D86D0EED02BF1B95CE12AED2FA5CD3C53260747D891993C"},
	}
	return f, rr
}

func TestIndyVDRProxyObjects(t *testing.T) {
	f, rr := ledgerWithVectors(t)
	p := newProxy(t, f.serve(t), HTTPOptions{})
	ctx := context.Background()

	for _, id := range []string{sovSchemaID, "did:indy:sovrin:WpoQirzsNJK2MUZh3NtbF2/anoncreds/v0/SCHEMA/r-test6/0.0.6"} {
		s, err := p.Schema(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != id || s.Name != "r-test6" || s.Version != "0.0.6" || strings.Join(s.AttrNames, ",") != "c,b,a" {
			t.Errorf("schema %s = %+v", id, s)
		}
	}
	d, err := p.CredentialDefinition(ctx, sovCredDefID)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != sovCredDefID || d.SchemaID != "13054" || d.Tag != "latest" || d.IssuerID != "WpoQirzsNJK2MUZh3NtbF2" || d.Value.Primary.N == nil {
		t.Errorf("credential definition = %+v", d)
	}
	rd, err := p.RevocationRegistryDefinition(ctx, rr)
	if err != nil {
		t.Fatal(err)
	}
	if rd.ID != rr || rd.Value.MaxCredNum != 8 || rd.Tag != "0" || rd.Value.PublicKeys.AccumKey.Z == "" {
		t.Errorf("revocation registry definition = %+v", rd)
	}
	if f.count("/rev_reg_def/"+rr) != 1 {
		t.Errorf("rev_reg_def route asked %d times", f.count("/rev_reg_def/"+rr))
	}
}

func TestIndyVDRProxyStatusLists(t *testing.T) {
	f, rr := ledgerWithVectors(t)
	p := newProxy(t, f.serve(t), HTTPOptions{})
	ctx := context.Background()
	indyRR := "did:indy:sovrin:" + nym + "/anoncreds/v0/REV_REG_DEF/20/revocable/0"
	tests := []struct {
		name     string
		id       string
		at       int64
		wantTime int64
		want     string
	}{
		{"now", rr, 0, 1733300500, "00000100"},
		{"now/did:indy", indyRR, 0, 1733300500, "00000100"},
		{"at first entry", rr, 1733300300, 1733300300, "00000000"},
		{"between entries", rr, 1733300450, 1733300400, "00010000"},
		{"after last", indyRR, 1733399999, 1733300500, "00000100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := p.RevocationStatusList(ctx, tt.id, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, v := range l.RevocationList {
				got.WriteByte('0' + byte(v))
			}
			if got.String() != tt.want || l.Timestamp != tt.wantTime || l.RevRegDefID != tt.id || l.CurrentAccumulator == "" {
				t.Errorf("list = %s at %d (%+v), want %s at %d", got.String(), l.Timestamp, l, tt.want, tt.wantTime)
			}
		})
	}
	if _, err := p.RevocationStatusList(ctx, rr, 1733300000); !errors.Is(err, ErrNotFound) {
		t.Errorf("before the first entry: %v, want ErrNotFound", err)
	}
}

func TestIndyVDRProxyErrors(t *testing.T) {
	cdReply := readFile(t, "testdata/indy/get_cred_def_reply.json")
	tests := []struct {
		name   string
		id     string
		inject *fakeResponse
		ask    func(*IndyVDRProxy, string) error
		want   error
	}{
		{"404", sovSchemaID, &fakeResponse{404, []byte("Not Found")}, schemaOf, ErrNotFound},
		{"ledger has no schema", nym + ":2:absent:1.0", nil, schemaOf, ErrNotFound},
		{"ledger has no cred def", nym + ":3:CL:99:absent", nil, credDefOf, ErrNotFound},
		{"ledger has no rev reg", nym + ":4:" + nym + ":3:CL:99:x:CL_ACCUM:0", nil, revRegOf, ErrNotFound},
		{"500", sovSchemaID, &fakeResponse{500, []byte("boom")}, schemaOf, ErrUnavailable},
		{"504/pool timeout", sovSchemaID, &fakeResponse{504, []byte("Request timed out")}, schemaOf, ErrUnavailable},
		{"409/no consensus", sovSchemaID, &fakeResponse{409, []byte("No consensus")}, schemaOf, ErrUnavailable},
		{"oversized", sovCredDefID, &fakeResponse{200, bytes.Repeat([]byte(" "), 5<<20)}, credDefOf, ErrInvalidObject},
		{"malformed JSON", sovSchemaID, &fakeResponse{200, []byte(`{"op":"REPLY","result":{"type":"107",`)}, schemaOf, ErrInvalidObject},
		{"trailing JSON", sovSchemaID, &fakeResponse{200, []byte(`{"op":"REPLY"} {}`)}, schemaOf, ErrInvalidObject},
		{"deep JSON", sovSchemaID, &fakeResponse{200, []byte(strings.Repeat("[", 100))}, schemaOf, ErrInvalidObject},
		{"REQNACK", sovSchemaID, &fakeResponse{200, []byte(`{"op":"REQNACK","reason":"client request invalid"}`)}, schemaOf, ErrUnavailable},
		{"wrong reply type", sovSchemaID, &fakeResponse{200, cdReply}, schemaOf, ErrInvalidObject},
		{"schema by another issuer", sovSchemaID, &fakeResponse{200, reply("107", map[string]any{"dest": nym, "seqNo": 1,
			"data": map[string]any{"name": "r-test6", "version": "0.0.6", "attr_names": []string{"a"}}})}, schemaOf, ErrInvalidObject},
		{"schema of another name", sovSchemaID, &fakeResponse{200, reply("107", map[string]any{"dest": "WpoQirzsNJK2MUZh3NtbF2", "seqNo": 1,
			"data": map[string]any{"name": "other", "version": "0.0.6", "attr_names": []string{"a"}}})}, schemaOf, ErrInvalidObject},
		{"schema with no attributes", sovSchemaID, &fakeResponse{200, reply("107", map[string]any{"dest": "WpoQirzsNJK2MUZh3NtbF2", "seqNo": 1,
			"data": map[string]any{"name": "r-test6", "version": "0.0.6", "attr_names": []string{}}})}, schemaOf, ErrInvalidObject},
		{"cred def with another tag", "WpoQirzsNJK2MUZh3NtbF2:3:CL:13054:other", &fakeResponse{200, cdReply}, credDefOf, ErrInvalidObject},
		{"cred def on another schema", "WpoQirzsNJK2MUZh3NtbF2:3:CL:13053:latest", &fakeResponse{200, cdReply}, credDefOf, ErrInvalidObject},
		{"cred def with a bad key", sovCredDefID, &fakeResponse{200, reply("108", map[string]any{"origin": "WpoQirzsNJK2MUZh3NtbF2", "ref": 13054,
			"signature_type": "CL", "tag": "latest", "seqNo": 2, "data": map[string]any{"primary": map[string]any{"n": "12"}}})}, credDefOf, ErrInvalidObject},
		{"namespace not configured", "did:indy:indicio:" + nym + "/anoncreds/v0/SCHEMA/a/1.0", nil, schemaOf, ErrUnsupported},
		{"cred def by schema id", nym + ":3:CL:" + nym + ":2:a:1.0:tag", nil, credDefOf, ErrUnsupported},
		{"DID URL of another method", "did:cheqd:testnet:abc/resources/def", nil, schemaOf, ErrUnsupported},
		{"malformed id", "nonsense", nil, schemaOf, ErrMalformedID},
		{"id of another kind", sovCredDefID, nil, schemaOf, ErrMalformedID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := ledgerWithVectors(t)
			if tt.inject != nil {
				route := map[string]string{"schema": "/schema/", "cred_def": "/cred_def/", "rev_reg": "/rev_reg_def/"}
				prefix := route["schema"]
				switch {
				case strings.Contains(tt.id, ":3:"):
					prefix = route["cred_def"]
				case strings.Contains(tt.id, ":4:"):
					prefix = route["rev_reg"]
				}
				f.inject[prefix+tt.id] = *tt.inject
			}
			p := newProxy(t, f.serve(t), HTTPOptions{})
			err := tt.ask(p, tt.id)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.id) && len(tt.id) < 100 {
				t.Errorf("error %q does not name the id", err)
			}
		})
	}
}

func schemaOf(p *IndyVDRProxy, id string) error {
	_, err := p.Schema(context.Background(), id)
	return err
}

func credDefOf(p *IndyVDRProxy, id string) error {
	_, err := p.CredentialDefinition(context.Background(), id)
	return err
}

func revRegOf(p *IndyVDRProxy, id string) error {
	_, err := p.RevocationRegistryDefinition(context.Background(), id)
	return err
}

func TestIndyVDRProxyTransport(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		f, _ := ledgerWithVectors(t)
		srv := f.serve(t)
		p := newProxy(t, srv, HTTPOptions{})
		srv.Close()
		if _, err := p.Schema(context.Background(), sovSchemaID); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%v, want ErrUnavailable", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f, _ := ledgerWithVectors(t)
		f.gate = make(chan struct{})
		srv := f.serve(t)
		defer close(f.gate)
		p := newProxy(t, srv, HTTPOptions{Timeout: 50 * time.Millisecond})
		_, err := p.Schema(context.Background(), sovSchemaID)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v, want ErrUnavailable and DeadlineExceeded", err)
		}
	})
	t.Run("client required", func(t *testing.T) {
		for _, c := range []*http.Client{nil, http.DefaultClient} {
			if _, err := NewIndyVDRProxy(IndyVDRProxyConfig{Ledgers: map[string]string{"sovrin": "https://proxy.example"}}, c); err == nil {
				t.Errorf("client %v accepted", c)
			}
		}
	})
	t.Run("config", func(t *testing.T) {
		for name, cfg := range map[string]IndyVDRProxyConfig{
			"bad namespace":             {Ledgers: map[string]string{"Sovrin": "https://proxy.example"}},
			"not http":                  {Ledgers: map[string]string{"sovrin": "ftp://proxy.example"}},
			"query":                     {Ledgers: map[string]string{"sovrin": "https://proxy.example/?x=1"}},
			"legacy namespace unmapped": {Ledgers: map[string]string{"sovrin": "https://proxy.example"}, LegacyNamespace: "indicio"},
		} {
			if _, err := NewIndyVDRProxy(cfg, &http.Client{}); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}
