package didcomm_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/identity/didcomm/internal/rfcholder"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// These tests drive the service's side of DIDComm (the real Agent, over loopback HTTP) with
// rfcholder: a holder written from the Aries RFCs that shares no DIDComm code with
// aries-framework-go, doing what Credo- and ACA-Py-based wallets do. The verifier harness
// (helpers_test.go) plays the broker.

func rfcContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newHolder(t *testing.T, cfg rfcholder.Config) *rfcholder.Holder {
	t.Helper()
	h, err := rfcholder.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// connect answers a fresh invitation of the agent.
func connect(t *testing.T, agent *didcomm.Agent, h *rfcholder.Holder) *rfcholder.Connection {
	t.Helper()
	return connectWith(t, agent, h, func(inv didcomm.Invitation) []byte { return inv.JSON })
}

// connectWith answers a fresh invitation, handed to the holder in the form show returns.
func connectWith(t *testing.T, agent *didcomm.Agent, h *rfcholder.Holder, show func(didcomm.Invitation) []byte) *rfcholder.Connection {
	t.Helper()
	inv, err := agent.CreateInvitation(context.Background(), "rfc interop", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.Connect(rfcContext(t), show(inv))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c
}

func TestRFCHolderDIDExchange(t *testing.T) {
	agent, base := startVerifier(t)
	newVerifierHandler(t, agent, base)
	asJSON := func(inv didcomm.Invitation) []byte { return inv.JSON }
	asURL := func(inv didcomm.Invitation) []byte { return []byte(inv.URL(base + "/i")) }
	for _, tc := range []struct {
		name   string
		padded bool
		show   func(didcomm.Invitation) []byte
	}{
		{"unpadded base64url envelopes (ACA-Py, Credo)", false, asJSON},
		{"padded base64url envelopes (indy-sdk)", true, asJSON},
		{"invitation scanned as a URL (?oob=)", false, asURL},
	} {
		t.Run(tc.name+"/connected, response signed by the invitation key", func(t *testing.T) {
			h := newHolder(t, rfcholder.Config{PaddedBase64: tc.padded})
			c := connectWith(t, agent, h, tc.show)
			// Connect has verified the response's did_doc~attach against the invitation key;
			// check it again here, and that the check can fail.
			if _, err := rfcholder.VerifyAttachment(c.ResponseAttachment, c.Invitation.RecipientKey); err != nil {
				t.Fatalf("response attachment: %v", err)
			}
			// Credo accepts only did:peer numalgo 1 in DID Exchange 1.0 responses.
			if !strings.HasPrefix(c.TheirDID, "did:peer:1z") {
				t.Errorf("response DID %s is not a did:peer:1", c.TheirDID)
			}
			// The harness asks for a presentation on every completed connection.
			if _, err := c.AwaitPresentationRequest(rfcContext(t)); err != nil {
				t.Fatal(err)
			}
			// The connection carries messages both ways: a trust ping round trip.
			ping := map[string]any{"@id": rfcholder.NewID(), "@type": rfcholder.TypeTrustPing, "response_requested": true}
			reply, err := c.Ask(rfcContext(t), ping)
			if err != nil {
				t.Fatal(err)
			}
			if reply.Type != rfcholder.TypeTrustPingResponse || reply.SenderKey != c.TheirKey() {
				t.Errorf("reply %s from %s, want a ping_response from %s", reply.Type, reply.SenderKey, c.TheirKey())
			}
		})
	}

	t.Run("negative controls: the holder's signature check fails", func(t *testing.T) {
		h := newHolder(t, rfcholder.Config{})
		c := connect(t, agent, h)
		if _, err := c.AwaitPresentationRequest(rfcContext(t)); err != nil {
			t.Fatal(err)
		}
		good := c.ResponseAttachment
		_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
		resigned, err := rfcholder.SignedAttachment(good.ID, good.MimeType, mustBytes(t, good), otherKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, neg := range []struct {
			name string
			att  rfcholder.Attachment
			key  ed25519.PublicKey
		}{
			{"tampered document", tamper(t, good), c.Invitation.RecipientKey},
			{"signature by another key", resigned, c.Invitation.RecipientKey},
			{"no signature", unsigned(good), c.Invitation.RecipientKey},
			{"checked against another key", good, otherKey.Public().(ed25519.PublicKey)},
		} {
			if _, err := rfcholder.VerifyAttachment(neg.att, neg.key); err == nil {
				t.Errorf("%s: verified", neg.name)
			} else {
				t.Logf("%s: %v", neg.name, err)
			}
		}
	})
}

func mustBytes(t *testing.T, a rfcholder.Attachment) []byte {
	t.Helper()
	b, err := a.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper changes the attached DID document's endpoint and keeps the signature.
func tamper(t *testing.T, a rfcholder.Attachment) rfcholder.Attachment {
	t.Helper()
	doc := bytes.Replace(mustBytes(t, a), []byte("127.0.0.1"), []byte("127.0.0.2"), 1)
	a.Data.Base64 = base64.StdEncoding.EncodeToString(doc)
	return a
}

func unsigned(a rfcholder.Attachment) rfcholder.Attachment {
	a.Data.JWS = nil
	return a
}

func TestRFCHolderPresentProof(t *testing.T) {
	agent, base := startVerifier(t)
	v := newVerifierHandler(t, agent, base)
	h := newHolder(t, rfcholder.Config{})
	claims := map[string]string{"givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"}
	trusted, err := issuer.Development().Issue(h.HolderDID(), claims, issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	selfIssued, err := issuer.Random().Issue(h.HolderDID(), claims, issuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		present    rfcholder.Presentation
		wantType   string
		wantCode   string // problem report description.code
		wantResult string // the verifier's outcome
	}{
		{"trusted credential/ack on the request's thread",
			rfcholder.Presentation{Credential: trusted}, rfcholder.TypePresAckV2, "", "verified"},
		{"self-issued credential/problem-report untrusted_issuer on the request's thread",
			rfcholder.Presentation{Credential: selfIssued}, rfcholder.TypePresProblemV2, "untrusted_issuer", "untrusted_issuer"},
		{"another challenge signed/problem-report challenge_mismatch on the request's thread",
			rfcholder.Presentation{Credential: trusted, Challenge: "not-the-session-nonce"}, rfcholder.TypePresProblemV2, "challenge_mismatch", "challenge_mismatch"},
		{"another domain signed/problem-report domain_mismatch on the request's thread",
			rfcholder.Presentation{Credential: trusted, Domain: "https://elsewhere.example"}, rfcholder.TypePresProblemV2, "domain_mismatch", "domain_mismatch"},
		{"presentation on an unknown thread/problem-report unknown_thread on that thread",
			rfcholder.Presentation{Credential: trusted, ThreadID: rfcholder.NewID()}, rfcholder.TypePresProblemV2, "unknown_thread", "unknown_thread"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := rfcContext(t)
			c := connect(t, agent, h)
			req, err := c.AwaitPresentationRequest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// RFC 0510: challenge and domain travel in the definitions attachment's options.
			if !strings.HasPrefix(req.Challenge, "nonce-") || req.Domain != base || req.DefinitionID != "def-1" {
				t.Fatalf("request options: challenge %q, domain %q, definition %q", req.Challenge, req.Domain, req.DefinitionID)
			}
			thread := req.ID // RFC 0008: the request starts the thread
			if tc.present.ThreadID != "" {
				thread = tc.present.ThreadID
			}
			reply, err := c.Present(ctx, req, tc.present)
			if err != nil {
				t.Fatal(err)
			}
			if reply.Type != tc.wantType {
				t.Fatalf("reply %s (%s), want %s", reply.Type, reply.Raw, tc.wantType)
			}
			if reply.ThreadID != thread {
				t.Errorf("reply on thread %s, want %s", reply.ThreadID, thread)
			}
			if got := reply.ProblemCode(); got != tc.wantCode {
				t.Errorf("description.code %q, want %q (%s)", got, tc.wantCode, reply.ProblemExplain())
			}
			if reply.SenderKey != c.TheirKey() {
				t.Errorf("reply from %s, want the connection's key %s", reply.SenderKey, c.TheirKey())
			}
			if mt, _, _ := mime.ParseMediaType(reply.ContentType); mt != "application/didcomm-envelope-enc" {
				t.Errorf("reply sent as %q, want application/didcomm-envelope-enc (RFC 0025)", reply.ContentType)
			}
			if got := v.outcome(t, thread); got != tc.wantResult {
				t.Errorf("verifier outcome %q, want %q", got, tc.wantResult)
			}
		})
	}
}

func TestRFCHolderUnprocessedMessages(t *testing.T) {
	agent, base := startVerifier(t)
	newVerifierHandler(t, agent, base)
	h := newHolder(t, rfcholder.Config{})
	c := connect(t, agent, h)
	ctx := rfcContext(t)
	if _, err := c.AwaitPresentationRequest(ctx); err != nil { // the harness asks on connect
		t.Fatal(err)
	}
	earlier := rfcholder.NewID()
	for _, tc := range []struct {
		name     string
		msg      map[string]any
		thread   string
		wantType string
		wantCode string
	}{
		{"propose-presentation (the verifier does not negotiate)/present-proof problem-report on its thread",
			map[string]any{"@type": rfcholder.TypeProposePresV2, "formats": []any{}, "proposals~attach": []any{}},
			"", rfcholder.TypePresProblemV2, "unsupported_message_type"},
		{"basicmessage/report-problem problem-report on its thread",
			map[string]any{"@type": rfcholder.TypeBasicMessage, "sent_time": time.Now().UTC().Format(time.RFC3339), "content": "hello"},
			"", rfcholder.TypeReportProblem, "unsupported_message_type"},
		{"basicmessage replying in an existing thread/problem-report on that thread",
			map[string]any{"@type": rfcholder.TypeBasicMessage, "content": "hi", "~thread": map[string]any{"thid": earlier}},
			earlier, rfcholder.TypeReportProblem, "unsupported_message_type"},
		{"unknown protocol/report-problem problem-report on its thread",
			map[string]any{"@type": "https://didcomm.org/hearro-unknown/1.0/anything"},
			"", rfcholder.TypeReportProblem, "unsupported_message_type"},
		{"trust ping with response_requested/ping_response on its thread",
			map[string]any{"@type": rfcholder.TypeTrustPing, "response_requested": true},
			"", rfcholder.TypeTrustPingResponse, ""},
		{"trust ping with the legacy did:sov type prefix/ping_response on its thread",
			map[string]any{"@type": "did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/trust_ping/1.0/ping", "response_requested": true},
			"", rfcholder.TypeTrustPingResponse, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.msg["@id"] = rfcholder.NewID()
			thread := tc.thread
			if thread == "" {
				thread = tc.msg["@id"].(string)
			}
			reply, err := c.Ask(rfcContext(t), tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if reply.Type != tc.wantType || reply.ThreadID != thread {
				t.Fatalf("reply %s on thread %s, want %s on %s: %s", reply.Type, reply.ThreadID, tc.wantType, thread, reply.Raw)
			}
			if got := reply.ProblemCode(); got != tc.wantCode {
				t.Errorf("description.code %q, want %q", got, tc.wantCode)
			}
		})
	}
}

func TestRFCHolderContentType(t *testing.T) {
	agent, base := startVerifier(t)
	newVerifierHandler(t, agent, base)
	h := newHolder(t, rfcholder.Config{})
	c := connect(t, agent, h)
	// Once the request arrives the service has the connection complete (a message right after
	// the complete can wait a second in the library's DID lookup retries).
	if _, err := c.AwaitPresentationRequest(rfcContext(t)); err != nil {
		t.Fatal(err)
	}
	// A trust ping that asks for no response: accepting it has no other effect.
	ping := map[string]any{"@type": rfcholder.TypeTrustPing, "response_requested": false}
	for _, tc := range []struct {
		contentType string
		want        int
	}{
		{"application/didcomm-envelope-enc; charset=utf-8", http.StatusAccepted},
		{"application/didcomm-envelope-enc;charset=UTF-8", http.StatusAccepted},
		{"application/didcomm-envelope-enc", http.StatusAccepted},
		{"Application/DIDComm-Envelope-Enc", http.StatusAccepted},
		{"application/ssi-agent-wire; charset=utf-8", http.StatusAccepted},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"text/plain; charset=utf-8", http.StatusUnsupportedMediaType},
		{"", http.StatusUnsupportedMediaType},
	} {
		name := tc.contentType
		if name == "" {
			name = "no Content-Type"
		}
		t.Run(fmt.Sprintf("%d/%s", tc.want, name), func(t *testing.T) {
			ping["@id"] = rfcholder.NewID()
			env, err := c.Envelope(ping)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(rfcContext(t), http.MethodPost, c.TheirEndpoint(), bytes.NewReader(env))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestRFCHolderWalletProblemReports(t *testing.T) {
	agent, base := startVerifier(t)
	v := newVerifierHandler(t, agent, base)
	h := newHolder(t, rfcholder.Config{})
	for _, tc := range []struct {
		name, msgType, code string
	}{
		{"present-proof problem-report (wallet declines)/reaches the verifier, not answered", rfcholder.TypePresProblemV2, "request-declined"},
		{"report-problem problem-report on the request's thread/reaches the verifier, not answered", rfcholder.TypeReportProblem, "request-declined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, agent, h)
			req, err := c.AwaitPresentationRequest(rfcContext(t))
			if err != nil {
				t.Fatal(err)
			}
			report := map[string]any{
				"@id": rfcholder.NewID(), "@type": tc.msgType, "~thread": map[string]any{"thid": req.ID},
				"description": map[string]any{"code": tc.code, "en": "the customer declined"},
			}
			if err := c.Send(rfcContext(t), report); err != nil {
				t.Fatal(err)
			}
			if got := v.outcome(t, req.ID); got != "problem:"+tc.code {
				t.Errorf("verifier outcome %q, want problem:%s", got, tc.code)
			}
			// The service answers inside the POST, so an answer would be here already. A
			// problem report answered with a problem report can loop between two agents.
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if m, err := c.AwaitThread(ctx, req.ID); err == nil {
				t.Errorf("the wallet's problem report was answered: %s", m.Raw)
			}
		})
	}
}
