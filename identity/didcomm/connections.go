package didcomm

import (
	"context"
	"errors"
	"fmt"
	"sort"

	didexsvc "github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/didexchange"
	"github.com/hyperledger/aries-framework-go/pkg/store/connection"
	"github.com/hyperledger/aries-framework-go/spi/storage"
)

// ErrUnknownConnection is returned for a connection ID the agent does not have.
var ErrUnknownConnection = errors.New("unknown DIDComm connection")

// ConnectionInfo describes one of the agent's connections with wallets.
type ConnectionInfo struct {
	ConnectionID string
	// State is the DID exchange state; "completed" connections can carry new requests.
	State        string
	TheirDID     string
	TheirLabel   string
	InvitationID string
}

// Completed reports whether the connection can carry messages.
func (c ConnectionInfo) Completed() bool { return c.State == didexsvc.StateIDCompleted }

// Connections lists the connections wallets opened by answering our invitations, ordered by ID.
func (a *Agent) Connections(context.Context) ([]ConnectionInfo, error) {
	recs, err := a.lookup.QueryConnectionRecords()
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	out := make([]ConnectionInfo, 0, len(recs))
	for _, r := range recs {
		if r.Namespace != "" && r.Namespace != "their" {
			continue // connections we initiated (none today)
		}
		out = append(out, ConnectionInfo{ConnectionID: r.ConnectionID, State: r.State, TheirDID: r.TheirDID,
			TheirLabel: r.TheirLabel, InvitationID: r.InvitationID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConnectionID < out[j].ConnectionID })
	return out, nil
}

// Connection returns one connection, or ErrUnknownConnection.
func (a *Agent) Connection(_ context.Context, id string) (ConnectionInfo, error) {
	r, err := a.lookup.GetConnectionRecord(id)
	if errors.Is(err, storage.ErrDataNotFound) {
		return ConnectionInfo{}, fmt.Errorf("%w: %s", ErrUnknownConnection, id)
	}
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("connection %s: %w", id, err)
	}
	return ConnectionInfo{ConnectionID: r.ConnectionID, State: r.State, TheirDID: r.TheirDID,
		TheirLabel: r.TheirLabel, InvitationID: r.InvitationID}, nil
}

// RemoveConnection forgets a connection (erasure): the wallet can no longer be reached over it,
// and nothing the agent stored about it remains. The library's own removal leaves the DID
// exchange's event record (which holds the wallet's request) behind; it is deleted here too.
func (a *Agent) RemoveConnection(_ context.Context, id string) error {
	if err := a.exchange.RemoveConnection(id); err != nil {
		if errors.Is(err, storage.ErrDataNotFound) {
			return fmt.Errorf("%w: %s", ErrUnknownConnection, id)
		}
		return fmt.Errorf("remove connection %s: %w", id, err)
	}
	states, err := a.cfg.Storage.OpenStore(connection.Namespace)
	if err != nil {
		return fmt.Errorf("remove connection %s: %w", id, err)
	}
	if err := states.Delete("connevent_" + id); err != nil && !errors.Is(err, storage.ErrDataNotFound) {
		return fmt.Errorf("remove connection %s: %w", id, err)
	}
	return nil
}
