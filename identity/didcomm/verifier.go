package didcomm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/dispatcher"
	"github.com/hyperledger/aries-framework-go/pkg/store/connection"
	"github.com/hyperledger/aries-framework-go/spi/storage"
)

// verifierProtocol is the verifier's side of present-proof 2.0, written to RFC 0454 rather than
// taken from aries-framework-go: the library's service keeps a second state machine next to the
// broker's, re-verifies and stores every presentation, answers a refusal with the code
// "rejected" instead of the reason, and sends problem reports on a new thread.
//
// It is registered ahead of the library's present-proof service, so it receives the verifier's
// messages. Every inbound message is answered: presentations by the handler (ack or problem
// report), anything else with a problem report on the same thread.
type verifierProtocol struct {
	agent  *Agent
	lookup *connection.Lookup
}

const verifierProtocolName = "hearro-present-proof-verifier"

var _ dispatcher.ProtocolService = (*verifierProtocol)(nil)

type protocolProvider interface {
	StorageProvider() storage.Provider
	ProtocolStateStorageProvider() storage.Provider
}

func (p *verifierProtocol) Name() string { return verifierProtocolName }

func (p *verifierProtocol) Initialize(prov interface{}) error {
	pp, ok := prov.(protocolProvider)
	if !ok {
		return fmt.Errorf("verifier protocol: unexpected provider %T", prov)
	}
	lookup, err := connection.NewLookup(pp)
	if err != nil {
		return fmt.Errorf("verifier protocol: %w", err)
	}
	p.lookup = lookup
	return nil
}

// Accept takes every present-proof 2.0 message: the verifier must answer all of them.
func (p *verifierProtocol) Accept(msgType string) bool {
	return strings.HasPrefix(NormalizeType(msgType), PresentProofV2)
}

func (p *verifierProtocol) HandleOutbound(service.DIDCommMsg, string, string) (string, error) {
	return "", errors.New("verifier protocol: use Agent.RequestPresentation")
}

// HandleInbound runs inside the inbound HTTP request, so a presentation is verified before the
// wallet's POST is answered.
func (p *verifierProtocol) HandleInbound(msg service.DIDCommMsg, dctx service.DIDCommContext) (string, error) {
	ctx, ok := p.agent.inbound.requestContext(msg.ID())
	if !ok {
		// Every message reaches the protocol inside its HTTP request (Inbound.ServeHTTP).
		return "", errors.New("present-proof message outside an inbound request")
	}
	thid, err := msg.ThreadID()
	if err != nil {
		return "", fmt.Errorf("present-proof: %w", err)
	}
	peer := Peer{ThreadID: thid, MyDID: dctx.MyDID(), TheirDID: dctx.TheirDID()}
	if peer.TheirDID == "" || peer.MyDID == "" {
		// No connection: nobody to answer. The HTTP status tells the sender.
		return "", errors.New("present-proof message outside any connection")
	}
	peer.ConnectionID, _ = p.lookup.GetConnectionIDByDIDs(peer.MyDID, peer.TheirDID)

	switch NormalizeType(msg.Type()) {
	case TypePresentationV2:
		var pres PresentationV2
		if err := Decode(msg, &pres); err != nil {
			return "", p.agent.Reject(ctx, peer, "malformed", "presentation message cannot be decoded")
		}
		vp, err := pres.Submission()
		if err != nil {
			return "", p.agent.Reject(ctx, peer, "malformed", err.Error())
		}
		v := p.agent.handler().PresentationReceived(ctx, ReceivedPresentation{Peer: peer, Presentation: vp})
		p.agent.answer(ctx, peer, v)
		return "", nil
	case TypePresProblemV2:
		var pr ProblemReport
		_ = Decode(msg, &pr)
		p.agent.handler().ProblemReported(ctx, ReceivedProblem{Peer: peer, Code: pr.Description.Code, Explain: pr.Description.En})
		return "", nil
	case TypePresAckV2:
		return "", nil // a prover acknowledging us: nothing to do
	default:
		return "", p.agent.sendProblem(peer, TypePresProblemV2, "unsupported_message_type",
			fmt.Sprintf("this verifier does not handle %s", msg.Type()))
	}
}

// Peer identifies the other side of a present-proof thread.
type Peer struct {
	ThreadID     string
	ConnectionID string
	MyDID        string
	TheirDID     string
}

// answer tells the wallet the verdict on its presentation: an ack, or a problem report with
// the verdict's code. A wallet that cannot be reached is logged: its presentation was decided.
func (a *Agent) answer(ctx context.Context, peer Peer, v Verdict) {
	if v.Accepted {
		if err := a.Acknowledge(ctx, peer); err != nil {
			a.log.Warn("didcomm: ack not delivered to wallet", "thread_id", peer.ThreadID, "err", err)
		}
		return
	}
	if err := a.Reject(ctx, peer, v.Code, v.Explain); err != nil {
		a.log.Warn("didcomm: problem report not delivered to wallet", "thread_id", peer.ThreadID, "code", v.Code, "err", err)
	}
}

func (a *Agent) sendProblem(peer Peer, msgType, code, explain string) error {
	msg, err := messageMap(ProblemReport{
		ID:          uuid.NewString(),
		Type:        msgType,
		Thread:      &Thread{ID: peer.ThreadID},
		Description: ProblemDetails{Code: code, En: explain},
		WhoRetries:  "none",
		Impact:      "thread",
	})
	if err != nil {
		return fmt.Errorf("send problem report: %w", err)
	}
	if err := a.outbound.SendToDID(msg, peer.MyDID, peer.TheirDID); err != nil {
		return fmt.Errorf("send problem report: %w", err)
	}
	return nil
}
