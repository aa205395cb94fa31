// Package wallet is the demo holder wallet: an aries-framework-go agent that keeps a holder
// DID and a VerifiedCustomer credential, accepts an out-of-band invitation, connects with DID
// Exchange and answers a present-proof 2.0 request with a signed presentation.
//
// It plays the customer's phone in development and tests. It depends on identity, its
// confirm and didcomm packages and the demo issuer (internal/demo/issuer) only, never on
// broker, api or flex; production code never depends on it (internal/demo/deps_test.go).
package wallet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/pkg/client/didexchange"
	"github.com/hyperledger/aries-framework-go/pkg/client/outofband"
	"github.com/hyperledger/aries-framework-go/pkg/client/presentproof"
	"github.com/hyperledger/aries-framework-go/pkg/crypto"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/dispatcher"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/decorator"
	didexsvc "github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/didexchange"
	presentproofsvc "github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/presentproof"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/transport"
	arieshttp "github.com/hyperledger/aries-framework-go/pkg/didcomm/transport/http"
	"github.com/hyperledger/aries-framework-go/pkg/framework/aries"
	"github.com/hyperledger/aries-framework-go/pkg/kms"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock"
	"github.com/hyperledger/aries-framework-go/pkg/store/connection"
	"github.com/hyperledger/aries-framework-go/spi/storage"
	"github.com/piprate/json-gold/ld"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/confirm"
	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// Config configures a Wallet.
type Config struct {
	// Storage keeps the wallet's keys, connections and credential.
	Storage storage.Provider
	// SecretLock encrypts its private keys at rest.
	SecretLock secretlock.Service
	// Loader serves JSON-LD contexts.
	Loader ld.DocumentLoader
	// Listen is where the wallet receives DIDComm messages; default "127.0.0.1:0".
	Listen string
	// Endpoint is the URL the service sends to; default http://<listen address>.
	Endpoint string
	// HTTPClient sends outbound messages; nil: a 10 s timeout client.
	HTTPClient *http.Client
	// Label is the name the service sees.
	Label string
	// Logger receives internal logs; nil discards them.
	Logger *slog.Logger
	// Format is the credential format EnsureCredential obtains and presents: ldp (default),
	// bbs, jwt or sd-jwt.
	Format identity.Format
}

// Wallet is a demo holder. It runs one exchange at a time.
type Wallet struct {
	cfg       Config
	log       *slog.Logger
	framework *aries.Aries
	server    *http.Server
	meta      storage.Store
	kms       kms.KeyManager
	crypto    crypto.Crypto
	oob       *outofband.Client
	exchange  *didexchange.Client
	proofs    *presentproof.Client
	lookup    *connection.Lookup
	outbound  dispatcher.Outbound
	holder    holderKey
	serveDone chan struct{}
}

type holderKey struct {
	KID string `json:"kid"`
	DID string `json:"did"`
}

// Open starts the wallet's agent and its DIDComm endpoint, creating a holder DID on first use.
func Open(cfg Config) (*Wallet, error) {
	if cfg.Storage == nil || cfg.SecretLock == nil || cfg.Loader == nil {
		return nil, errors.New("wallet: storage, secret lock and loader are required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Label == "" {
		cfg.Label = "HearRo demo wallet"
	}
	if cfg.Format == "" {
		cfg.Format = identity.FormatLDP
	}
	if !slices.Contains(identity.Formats, cfg.Format) {
		return nil, fmt.Errorf("wallet: unknown credential format %q", cfg.Format)
	}
	w := &Wallet{cfg: cfg, log: cfg.Logger, serveDone: make(chan struct{})}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("wallet: listen for DIDComm messages on %s: %w", cfg.Listen, err)
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "http://" + ln.Addr().String()
		w.cfg.Endpoint = cfg.Endpoint
	}
	inbound := didcomm.NewInbound(cfg.Endpoint, 0, w.log)
	out, err := arieshttp.NewOutbound(arieshttp.WithOutboundHTTPClient(cfg.HTTPClient))
	if err != nil {
		ln.Close()
		return nil, err
	}
	w.framework, err = aries.New(
		aries.WithStoreProvider(cfg.Storage),
		aries.WithProtocolStateStoreProvider(cfg.Storage),
		aries.WithInboundTransport(inbound),
		aries.WithOutboundTransports(out),
		aries.WithSecretLock(cfg.SecretLock),
		aries.WithJSONLDDocumentLoader(cfg.Loader),
		aries.WithMediaTypeProfiles([]string{transport.MediaTypeAIP2RFC0019Profile}),
		aries.WithKeyType(kms.ED25519Type),
		aries.WithKeyAgreementType(kms.X25519ECDHKWType),
	)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("wallet: start agent: %w", err)
	}
	if ctx, err := w.framework.Context(); err == nil {
		inbound.Attach(ctx) // quick DID lookups: the verifier's request can overtake the exchange's end
	}
	w.server = &http.Server{Handler: inbound, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(w.serveDone)
		_ = w.server.Serve(ln)
	}()
	if err := w.init(); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *Wallet) init() error {
	ctx, err := w.framework.Context()
	if err != nil {
		return err
	}
	w.kms, w.crypto = ctx.KMS(), ctx.Crypto()
	if w.oob, err = outofband.New(ctx); err != nil {
		return err
	}
	if w.exchange, err = didexchange.New(ctx); err != nil {
		return err
	}
	if w.proofs, err = presentproof.New(ctx); err != nil {
		return err
	}
	if w.lookup, err = connection.NewLookup(ctx); err != nil {
		return err
	}
	w.outbound = ctx.OutboundDispatcher()
	if w.meta, err = w.cfg.Storage.OpenStore("hearro_wallet"); err != nil {
		return err
	}
	return w.loadOrCreateHolder()
}

func (w *Wallet) loadOrCreateHolder() error {
	b, err := w.meta.Get("holder")
	if err == nil {
		return json.Unmarshal(b, &w.holder)
	}
	if !errors.Is(err, storage.ErrDataNotFound) {
		return fmt.Errorf("wallet: read holder key: %w", err)
	}
	kid, pub, err := w.kms.CreateAndExportPubKeyBytes(kms.ED25519Type)
	if err != nil {
		return fmt.Errorf("wallet: create holder key: %w", err)
	}
	w.holder = holderKey{KID: kid, DID: identity.DIDKey(pub)}
	b, _ = json.Marshal(w.holder)
	return w.meta.Put("holder", b)
}

// HolderDID is the DID credentials are issued to and presentations are signed with.
func (w *Wallet) HolderDID() string { return w.holder.DID }

// Endpoint is where the wallet receives DIDComm messages.
func (w *Wallet) Endpoint() string { return w.cfg.Endpoint }

// Close stops the agent and the endpoint.
func (w *Wallet) Close() error {
	var errs []error
	if w.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, w.server.Shutdown(ctx))
		cancel()
		<-w.serveDone
	}
	if w.framework != nil {
		errs = append(errs, w.framework.Close())
	}
	return errors.Join(errs...)
}

// Credential is a credential the wallet holds.
type Credential struct {
	// JSON is the credential: a JSON-LD object (ldp, bbs), or a JSON string holding a VC-JWT
	// (jwt) or an SD-JWT with every disclosure (sd-jwt).
	JSON   json.RawMessage   `json:"vc"`
	Issuer string            `json:"issuer"`
	Claims map[string]string `json:"claims"`
	// Format is the credential's format; empty means ldp.
	Format identity.Format `json:"format,omitempty"`
}

const credentialKey = "credential/VerifiedCustomer"

func storeKey(f identity.Format) string {
	if f == identity.FormatLDP {
		return credentialKey
	}
	return credentialKey + "/" + string(f)
}

// issue obtains a credential in the wallet's format from iss.
func (w *Wallet) issue(iss *issuer.Issuer, claims map[string]string) (Credential, error) {
	c := Credential{Issuer: iss.DID(), Claims: claims, Format: w.cfg.Format}
	var err error
	switch w.cfg.Format {
	case identity.FormatBBS:
		c.JSON, err = iss.IssueBBS(w.holder.DID, claims, issuer.Options{})
		if err == nil {
			c.Issuer, err = iss.BBSDID()
		}
	case identity.FormatJWT:
		var s string
		if s, err = iss.IssueJWT(w.holder.DID, claims, issuer.Options{}); err == nil {
			c.JSON, err = json.Marshal(s)
		}
	case identity.FormatSDJWT:
		doc, rerr := identity.KeyResolver{}.Resolve(context.Background(), w.holder.DID)
		if rerr != nil {
			return c, rerr
		}
		var s string
		if s, err = iss.IssueSDJWT(w.holder.DID, ed25519.PublicKey(doc.Methods[0].PublicKey), claims, issuer.Options{}); err == nil {
			c.JSON, err = json.Marshal(s)
		}
	default:
		c.JSON, err = iss.Issue(w.holder.DID, claims, issuer.Options{})
	}
	return c, err
}

// EnsureCredential returns the wallet's VerifiedCustomer credential. With claims given, it
// makes sure the stored credential carries exactly those claims, obtaining a new one from the
// development issuer if not; with claims nil it keeps what it has, or obtains one with
// DefaultClaims. obtained reports whether a new credential was issued.
func (w *Wallet) EnsureCredential(claims map[string]string) (c Credential, obtained bool, err error) {
	b, err := w.meta.Get(storeKey(w.cfg.Format))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &c); err != nil {
			return c, false, fmt.Errorf("wallet: stored credential: %w", err)
		}
		devIssuer := issuer.DevelopmentDID()
		if w.cfg.Format == identity.FormatBBS {
			devIssuer = issuer.DevelopmentBBSDID()
		}
		if (claims == nil || maps.Equal(claims, c.Claims)) && c.Issuer == devIssuer && !expired(c.JSON) {
			return c, false, nil
		}
	case !errors.Is(err, storage.ErrDataNotFound):
		return c, false, fmt.Errorf("wallet: read credential: %w", err)
	}
	if claims == nil {
		claims = DefaultClaims()
	}
	c, err = w.issue(issuer.Development(), claims)
	if err != nil {
		return c, false, fmt.Errorf("wallet: obtain credential: %w", err)
	}
	b, _ = json.Marshal(c)
	if err := w.meta.Put(storeKey(w.cfg.Format), b); err != nil {
		return c, false, fmt.Errorf("wallet: store credential: %w", err)
	}
	return c, true, nil
}

// SelfIssued returns a credential with claims signed by a fresh key nobody trusts. It is not
// stored: it exists to show that the verifier refuses it.
func (w *Wallet) SelfIssued(claims map[string]string) (Credential, error) {
	if claims == nil {
		claims = DefaultClaims()
	}
	return w.issue(issuer.Random(), claims)
}

// DefaultClaims are the claims of the demo customer.
func DefaultClaims() map[string]string {
	return map[string]string{"givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"}
}

func expired(vc []byte) bool {
	var v struct {
		Expiration time.Time `json:"expirationDate"`
	}
	if len(vc) > 0 && vc[0] == '"' {
		return false // JWT formats: the verifier checks exp; the wallet re-issues on refusal
	}
	if json.Unmarshal(vc, &v) != nil {
		return true
	}
	return !v.Expiration.IsZero() && time.Now().After(v.Expiration)
}

// Step is one visible step of an exchange, for progress output.
type Step struct {
	// Name is invitation, confirm (the confirmation code to compare with the customer's
	// screen), connected, requested, presented, acknowledged, rejected or declined.
	Name    string
	Message string
	Elapsed time.Duration
}

// Outcome is how an exchange ended.
type Outcome struct {
	// Status is "acknowledged" (the verifier accepted the presentation), "rejected" (it
	// refused it) or "declined" (the wallet refused to present).
	Status string `json:"status"`
	// Reason is the verifier's problem-report code when rejected, the wallet's own
	// (confirmation_mismatch) when declined.
	Reason string `json:"reason,omitempty"`
	// ConfirmationCode is the code the invitation carried (see package confirm); empty if it
	// carried none.
	ConfirmationCode string        `json:"confirmation_code,omitempty"`
	Explain          string        `json:"explain,omitempty"`
	ConnectionID     string        `json:"connection_id"`
	HolderDID        string        `json:"holder_did"`
	Issuer           string        `json:"credential_issuer"`
	Verifier         string        `json:"verifier_label,omitempty"`
	Elapsed          time.Duration `json:"elapsed_ns"`
}

// ErrConfirmationMismatch is matched by every *MismatchError.
var ErrConfirmationMismatch = errors.New(string(identity.ReasonConfirmationMismatch))

// MismatchError says the wallet refused to present because the confirmation code the
// verifier sent (Invitation: in the invitation's goal, Request: in the request's comment;
// empty when there was none) is not the one its owner expected from their own screen.
type MismatchError struct {
	Expected, Invitation, Request string
}

func (e *MismatchError) Error() string {
	got := e.Request
	if e.Invitation != e.Expected {
		got = e.Invitation
	}
	if got == "" {
		got = "no code"
	}
	return fmt.Sprintf("%s: this wallet was shown %s, your screen shows %s: the invitation was not made for your screen, so nothing was presented",
		identity.ReasonConfirmationMismatch, got, e.Expected)
}

// Is makes errors.Is(err, ErrConfirmationMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrConfirmationMismatch }

// Accept answers an out-of-band invitation: connect, then present cred when asked, and wait
// for the verifier's ack or problem report. progress (may be nil) sees each step.
func (w *Wallet) Accept(ctx context.Context, invitation []byte, cred Credential, progress func(Step)) (*Outcome, error) {
	return w.AcceptExpecting(ctx, invitation, cred, "", progress)
}

// AcceptExpecting is Accept for a customer who read the confirmation code on their own screen
// (the page they asked for help on): expect, if not empty, is that code (see confirm.Parse).
// The wallet shows the code the invitation carries either way. With expect set, unless both
// the invitation's goal and the presentation request's comment carry exactly that code, it
// presents nothing: it declines the request with a present-proof problem report whose code is
// confirmation_mismatch, and returns an Outcome with Status "declined" and a *MismatchError.
// It still connects first, so that the verifier learns why the session failed.
func (w *Wallet) AcceptExpecting(ctx context.Context, invitation []byte, cred Credential, expect string, progress func(Step)) (*Outcome, error) {
	if expect != "" && !confirm.Valid(expect) {
		return nil, fmt.Errorf("expected confirmation code %q: %w", expect, confirm.ErrInvalid)
	}
	if progress == nil {
		progress = func(Step) {}
	}
	start := time.Now()
	step := func(name, format string, args ...any) {
		progress(Step{Name: name, Message: fmt.Sprintf(format, args...), Elapsed: time.Since(start)})
	}
	var inv outofband.Invitation
	if err := json.Unmarshal(invitation, &inv); err != nil {
		return nil, fmt.Errorf("invitation is not valid JSON: %w", err)
	}
	if inv.Type == "" || len(inv.Services) == 0 {
		return nil, errors.New("invitation has no @type or no services: not an out-of-band invitation")
	}
	step("invitation", "invitation from %q", inv.Label)
	invCode, _ := confirm.Find(inv.Goal)
	if invCode != "" {
		step("confirm", "%s", confirm.Text(invCode))
	}

	exStates := make(chan service.StateMsg, 16)
	ppActions := make(chan service.DIDCommAction, 4)
	ppStates := make(chan service.StateMsg, 16)
	// The framework delivers events synchronously; keep reading until the channels are
	// unregistered (deferred below, so run first) so late events cannot stall it.
	var drain sync.WaitGroup
	defer drain.Wait()
	stop := make(chan struct{})
	defer close(stop)
	exC, actC, ppC := relay(&drain, stop, exStates), relay(&drain, stop, ppActions), relay(&drain, stop, ppStates)
	if err := w.exchange.RegisterMsgEvent(exStates); err != nil {
		return nil, err
	}
	defer func() { _ = w.exchange.UnregisterMsgEvent(exStates) }()
	if err := w.proofs.RegisterActionEvent(ppActions); err != nil {
		return nil, err
	}
	defer func() { _ = w.proofs.UnregisterActionEvent(ppActions) }()
	if err := w.proofs.RegisterMsgEvent(ppStates); err != nil {
		return nil, err
	}
	defer func() { _ = w.proofs.UnregisterMsgEvent(ppStates) }()

	connID, err := w.oob.AcceptInvitation(&inv, w.cfg.Label)
	if err != nil {
		return nil, fmt.Errorf("accept invitation: %w", err)
	}
	out := &Outcome{ConnectionID: connID, HolderDID: w.holder.DID, Issuer: cred.Issuer, Verifier: inv.Label, ConfirmationCode: invCode}
	var theirDID string
	for {
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("waiting for the verifier: %w", ctx.Err())
		case st := <-exC:
			if st.Type == service.PostState && st.StateID == didexsvc.StateIDCompleted {
				if rec, err := w.lookup.GetConnectionRecord(connID); err == nil {
					theirDID = rec.TheirDID
					step("connected", "connected with DID Exchange")
				}
			}
		case act := <-actC:
			if didcomm.NormalizeType(act.Message.Type()) == didcomm.TypePresProblemV2 {
				act.Continue(nil) // accept the report; the abandoned state carries it
				continue
			}
			if expect != "" {
				if err := w.confirmRequest(act, connID, expect, invCode); err != nil {
					out.Status, out.Reason, out.Elapsed = "declined", string(identity.ReasonConfirmationMismatch), time.Since(start)
					step("declined", "%v", err)
					return out, err
				}
			}
			if err := w.answer(act, connID, cred, step); err != nil {
				act.Stop(err)
				return out, err
			}
		case st := <-ppC:
			if st.Type != service.PostState || (theirDID != "" && st.Properties != nil && st.Properties.All()["theirDID"] != theirDID) {
				continue
			}
			switch st.StateID {
			case presentproofsvc.StateNameDone:
				out.Status, out.Elapsed = "acknowledged", time.Since(start)
				step("acknowledged", "verifier acknowledged the presentation")
				return out, nil
			case presentproofsvc.StateNameAbandoned:
				out.Status, out.Elapsed = "rejected", time.Since(start)
				var pr didcomm.ProblemReport
				if st.Msg != nil && didcomm.NormalizeType(st.Msg.Type()) == didcomm.TypePresProblemV2 {
					_ = didcomm.Decode(st.Msg, &pr)
				}
				out.Reason, out.Explain = pr.Description.Code, pr.Description.En
				if out.Reason == "" {
					out.Reason = "abandoned"
				}
				step("rejected", "verifier rejected the presentation: %s", out.Reason)
				return out, nil
			}
		}
	}
}

// confirmRequest checks a presentation request against the code the customer expects. On a
// mismatch it declines the request with its own problem report, whose code says why — the
// framework's Stop would send the generic "rejected" — and leaves the action unanswered: the
// exchange ends here. The *MismatchError it returns says so even if the report could not be
// sent (joined with that error).
func (w *Wallet) confirmRequest(act service.DIDCommAction, connID, expect, invCode string) error {
	var req didcomm.RequestPresentationV2
	if didcomm.NormalizeType(act.Message.Type()) == didcomm.TypeRequestPresV2 {
		_ = didcomm.Decode(act.Message, &req) // undecodable: no code, so a mismatch
	}
	reqCode, _ := confirm.Find(req.Comment)
	if invCode == expect && reqCode == expect {
		return nil
	}
	mismatch := &MismatchError{Expected: expect, Invitation: invCode, Request: reqCode}
	thread, err := act.Message.ThreadID()
	if err != nil {
		return errors.Join(mismatch, fmt.Errorf("decline: %w", err))
	}
	rec, err := w.lookup.GetConnectionRecord(connID)
	if err != nil {
		return errors.Join(mismatch, fmt.Errorf("decline: connection %s: %w", connID, err))
	}
	b, err := json.Marshal(didcomm.ProblemReport{
		ID: uuid.NewString(), Type: didcomm.TypePresProblemV2, Thread: &didcomm.Thread{ID: thread},
		Description: didcomm.ProblemDetails{Code: string(identity.ReasonConfirmationMismatch),
			En: "the confirmation code is not the one on the customer's screen"},
		WhoRetries: "none", Impact: "thread",
	})
	if err != nil {
		return errors.Join(mismatch, err)
	}
	msg, err := service.ParseDIDCommMsgMap(b)
	if err != nil {
		return errors.Join(mismatch, err)
	}
	if err := w.outbound.SendToDID(msg, rec.MyDID, rec.TheirDID); err != nil {
		return errors.Join(mismatch, fmt.Errorf("decline: %w", err))
	}
	return mismatch
}

// answer builds and sends the presentation a request asks for.
func (w *Wallet) answer(act service.DIDCommAction, connID string, cred Credential, step func(string, string, ...any)) error {
	if didcomm.NormalizeType(act.Message.Type()) != didcomm.TypeRequestPresV2 {
		return fmt.Errorf("unexpected %s", act.Message.Type())
	}
	var req didcomm.RequestPresentationV2
	if err := didcomm.Decode(act.Message, &req); err != nil {
		return fmt.Errorf("decode presentation request: %w", err)
	}
	payload, err := definitionPayload(&req)
	if err != nil {
		return err
	}
	var def struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload.PresentationDefinition, &def)
	step("requested", "presentation requested (challenge %s…, domain %s)", short(payload.Options.Challenge), payload.Options.Domain)
	kh, err := w.kms.Get(w.holder.KID)
	if err != nil {
		return fmt.Errorf("holder key: %w", err)
	}
	vp, err := w.present(cred, def.ID, requestedClaims(payload.PresentationDefinition), payload.Options, kmsSigner{crypto: w.crypto, kh: kh})
	if err != nil {
		return fmt.Errorf("sign presentation: %w", err)
	}
	const attachID = "presentation"
	act.Continue(presentproof.WithPresentation(&presentproof.Presentation{
		Formats: []presentproofsvc.Format{{AttachID: attachID, Format: didcomm.FormatPESubmission}},
		Attachments: []decorator.GenericAttachment{{
			ID:        attachID,
			MediaType: mediaType(cred),
			Data:      decorator.AttachmentData{JSON: json.RawMessage(vp)},
		}},
	}))
	step("presented", "presentation sent (VerifiedCustomer from %s, %s)", short(cred.Issuer), formatOf(cred))
	return nil
}

func mediaType(c Credential) string {
	if f := formatOf(c); f == identity.FormatJWT || f == identity.FormatSDJWT {
		return "application/json"
	}
	return "application/ld+json"
}

func formatOf(c Credential) identity.Format {
	if c.Format == "" {
		return identity.FormatLDP
	}
	return c.Format
}

// present builds the submission attachment's content for cred's format: a JSON-LD VP object,
// or (jwt, sd-jwt) a JSON string holding the compact VP-JWT or SD-JWT+KB, as Credo does with
// data.json.
func (w *Wallet) present(cred Credential, definitionID string, reveal []string, opts didcomm.PEOptions, s identity.Signer) ([]byte, error) {
	vm := w.holder.DID + "#" + w.holder.DID[len("did:key:"):]
	ldVP := func(vc json.RawMessage) ([]byte, error) {
		return identity.Present(identity.Presentation{
			Holder: w.holder.DID, VerificationMethod: vm, Credentials: []json.RawMessage{vc},
			DefinitionID: definitionID, Challenge: opts.Challenge, Domain: opts.Domain,
		}, s, w.cfg.Loader)
	}
	var token string
	switch formatOf(cred) {
	case identity.FormatBBS:
		nonce := make([]byte, 32)
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		derived, err := identity.DeriveBBS(context.Background(), cred.JSON, reveal, nonce, identity.OfflineMethods(), w.cfg.Loader)
		if err != nil {
			return nil, err
		}
		return ldVP(derived)
	case identity.FormatJWT:
		if err := json.Unmarshal(cred.JSON, &token); err != nil {
			return nil, err
		}
		vp, err := identity.PresentJWT(identity.JWTPresentation{Holder: w.holder.DID, KeyID: vm, Credentials: []string{token},
			DefinitionID: definitionID, Challenge: opts.Challenge, Domain: opts.Domain}, s)
		if err != nil {
			return nil, err
		}
		return json.Marshal(vp)
	case identity.FormatSDJWT:
		if err := json.Unmarshal(cred.JSON, &token); err != nil {
			return nil, err
		}
		p, err := identity.PresentSDJWT(identity.SDJWTPresentation{SDJWT: token, Reveal: reveal, Challenge: opts.Challenge, Domain: opts.Domain}, s)
		if err != nil {
			return nil, err
		}
		return json.Marshal(p)
	}
	return ldVP(cred.JSON)
}

// requestedClaims returns the claim names a presentation definition's fields ask for
// ($.credentialSubject.x, $.vc.credentialSubject.x or, for SD-JWT, $.x): what a selective
// disclosure wallet reveals.
func requestedClaims(definition json.RawMessage) []string {
	var def struct {
		InputDescriptors []struct {
			Constraints struct {
				Fields []struct {
					Path []string `json:"path"`
				} `json:"fields"`
			} `json:"constraints"`
		} `json:"input_descriptors"`
	}
	_ = json.Unmarshal(definition, &def)
	var out []string
	for _, d := range def.InputDescriptors {
		for _, f := range d.Constraints.Fields {
			for _, p := range f.Path {
				name := ""
				for _, prefix := range []string{"$.credentialSubject.", "$.vc.credentialSubject.", "$."} {
					if rest, ok := strings.CutPrefix(p, prefix); ok {
						name = rest
						break
					}
				}
				if name != "" && name != "type" && name != "vct" && !strings.ContainsAny(name, ".[") && !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
	}
	return out
}

func definitionPayload(req *didcomm.RequestPresentationV2) (*didcomm.PEPayload, error) {
	for _, f := range req.Formats {
		if f.Format != didcomm.FormatPEDefinition {
			continue
		}
		for _, a := range req.Attachments {
			if a.ID != f.AttachID {
				continue
			}
			b, err := a.Data.Bytes()
			if err != nil {
				return nil, err
			}
			var p didcomm.PEPayload
			if err := json.Unmarshal(b, &p); err != nil {
				return nil, fmt.Errorf("presentation definition: %w", err)
			}
			if p.Options.Challenge == "" {
				return nil, errors.New("presentation request has no challenge")
			}
			return &p, nil
		}
	}
	return nil, errors.New("presentation request has no DIF presentation definition")
}

type kmsSigner struct {
	crypto crypto.Crypto
	kh     interface{}
}

func (s kmsSigner) Sign(data []byte) ([]byte, error) { return s.crypto.Sign(data, s.kh) }

func relay[T any](wg *sync.WaitGroup, stop <-chan struct{}, in <-chan T) <-chan T {
	out := make(chan T)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case v := <-in:
				select {
				case out <- v:
				case <-stop:
				}
			case <-stop:
				return
			}
		}
	}()
	return out
}

func short(s string) string {
	if len(s) > 24 {
		return s[:24]
	}
	return s
}
