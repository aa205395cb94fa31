// Package wallets connects the broker to the customer's side: the DIDComm agent
// (identity/didcomm) that talks to wallets, and the credential verifier (identity). It
// translates their types to the broker's words and back, and holds no rules of its own.
package wallets

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/identity/didcomm"
)

// Agent is the DIDComm agent as the broker's Wallets.
type Agent struct{ agent *didcomm.Agent }

var _ broker.Wallets = Agent{}

// NewAgent returns a as the broker's Wallets.
func NewAgent(a *didcomm.Agent) Agent { return Agent{agent: a} }

// CreateInvitation makes an out-of-band invitation.
func (w Agent) CreateInvitation(ctx context.Context, goal, confirmationCode string) (broker.Invitation, error) {
	inv, err := w.agent.CreateInvitation(ctx, goal, confirmationCode)
	if err != nil {
		return broker.Invitation{}, err
	}
	return broker.Invitation{ID: inv.ID, JSON: inv.JSON}, nil
}

// RequestPresentation sends a present-proof request on the thread threadID.
func (w Agent) RequestPresentation(ctx context.Context, connectionID, threadID string, req broker.PresentationRequest) error {
	_, err := w.agent.RequestPresentation(ctx, connectionID, threadID, didcomm.PresentationRequest{
		Comment: req.Comment, ConfirmationCode: req.ConfirmationCode, Definition: req.Definition,
		Challenge: req.Challenge, Domain: req.Domain,
	})
	return err
}

// Connections lists the connections wallets opened.
func (w Agent) Connections(ctx context.Context) ([]broker.WalletConnection, error) {
	conns, err := w.agent.Connections(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]broker.WalletConnection, len(conns))
	for i, c := range conns {
		out[i] = connection(c)
	}
	return out, nil
}

// Connection returns one connection, or an error matching broker.ErrUnknownConnection.
func (w Agent) Connection(ctx context.Context, id string) (broker.WalletConnection, error) {
	c, err := w.agent.Connection(ctx, id)
	if err != nil {
		return broker.WalletConnection{}, unknown(err)
	}
	return connection(c), nil
}

// RemoveConnection forgets a connection, or fails with an error matching
// broker.ErrUnknownConnection.
func (w Agent) RemoveConnection(ctx context.Context, id string) error {
	return unknown(w.agent.RemoveConnection(ctx, id))
}

func connection(c didcomm.ConnectionInfo) broker.WalletConnection {
	return broker.WalletConnection{ConnectionID: c.ConnectionID, InvitationID: c.InvitationID, TheirDID: c.TheirDID,
		TheirLabel: c.TheirLabel, State: c.State, Completed: c.Completed()}
}

func unknown(err error) error {
	if errors.Is(err, didcomm.ErrUnknownConnection) {
		return fmt.Errorf("%w: %w", broker.ErrUnknownConnection, err)
	}
	return err
}

// Handler is what the broker does with what wallets send (*broker.Service).
type Handler interface {
	Connected(ctx context.Context, c broker.WalletConnection)
	PresentationReceived(ctx context.Context, p broker.Presentation) broker.Verdict
	ProblemReported(ctx context.Context, p broker.Problem)
}

// Serve makes the agent hand what wallets send to h, and returns where the agent receives
// their messages (POST /didcomm).
func Serve(a *didcomm.Agent, h Handler) didcomm.Receiver { return a.Serve(handler{h}) }

// handler translates the agent's events into the broker's calls.
type handler struct{ h Handler }

func (x handler) Connected(ctx context.Context, c didcomm.Connection) {
	x.h.Connected(ctx, broker.WalletConnection{ConnectionID: c.ConnectionID, InvitationID: c.InvitationID,
		TheirDID: c.TheirDID, TheirLabel: c.TheirLabel, State: "completed", Completed: true})
}

func (x handler) PresentationReceived(ctx context.Context, p didcomm.ReceivedPresentation) didcomm.Verdict {
	v := x.h.PresentationReceived(ctx, broker.Presentation{ThreadID: p.ThreadID, ConnectionID: p.ConnectionID,
		TheirDID: p.TheirDID, Body: p.Presentation})
	return didcomm.Verdict{Accepted: v.Accepted, Code: v.Reason, Explain: v.Explain}
}

func (x handler) ProblemReported(ctx context.Context, p didcomm.ReceivedProblem) {
	x.h.ProblemReported(ctx, broker.Problem{ThreadID: p.ThreadID, ConnectionID: p.ConnectionID, Code: p.Code, Explain: p.Explain})
}
