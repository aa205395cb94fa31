package didcomm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	didexsvc "github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/didexchange"
	"github.com/hyperledger/aries-framework-go/pkg/store/connection"
	didstore "github.com/hyperledger/aries-framework-go/pkg/store/did"
	"github.com/hyperledger/aries-framework-go/pkg/vdr/peer"
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
// and nothing the agent stored about it remains. The library's own removal deletes only the
// connection record; it leaves behind the DID exchange's event record (which holds the
// wallet's request), the wallet's peer DID document (its keys and endpoint) and the map from
// the wallet's keys to its DID. Those are deleted here too, unless another connection of the
// agent still uses the same DID.
func (a *Agent) RemoveConnection(_ context.Context, id string) error {
	rec, err := a.lookup.GetConnectionRecord(id)
	if errors.Is(err, storage.ErrDataNotFound) {
		return fmt.Errorf("%w: %s", ErrUnknownConnection, id)
	}
	if err != nil {
		return fmt.Errorf("remove connection %s: %w", id, err)
	}
	// The wallet's keys are read from its DID document before it is deleted.
	keys := slices.Clone(rec.RecipientKeys)
	if rec.TheirDID != "" {
		if res, err := a.vdr.Resolve(rec.TheirDID); err == nil {
			if dest, err := service.CreateDestination(res.DIDDocument); err == nil {
				keys = append(keys, dest.RecipientKeys...)
			}
		}
	}
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
	if err := a.forgetDID(rec.TheirDID, keys); err != nil {
		return fmt.Errorf("remove connection %s: %w", id, err)
	}
	return nil
}

// forgetDID deletes what the agent keeps about a wallet's DID: its peer DID document and the
// entries mapping its keys to it. A DID another connection still uses is kept.
func (a *Agent) forgetDID(did string, keys []string) error {
	if did == "" {
		return nil
	}
	recs, err := a.lookup.QueryConnectionRecords()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.TheirDID == did {
			return nil
		}
	}
	byKey, err := a.cfg.Storage.OpenStore(didstore.StoreName)
	if err != nil {
		return err
	}
	for _, k := range keys {
		raw, err := byKey.Get(k)
		if errors.Is(err, storage.ErrDataNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var entry struct {
			DID string `json:"did"`
		}
		if json.Unmarshal(raw, &entry) == nil && entry.DID == did { // the key may have moved on to another DID
			if err := byKey.Delete(k); err != nil && !errors.Is(err, storage.ErrDataNotFound) {
				return err
			}
		}
	}
	if strings.HasPrefix(did, "did:peer:") {
		docs, err := a.cfg.Storage.OpenStore(peer.StoreNamespace)
		if err != nil {
			return err
		}
		if err := docs.Delete(did); err != nil && !errors.Is(err, storage.ErrDataNotFound) {
			return err
		}
	}
	return nil
}
