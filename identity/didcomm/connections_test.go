package didcomm_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hyperledger/aries-framework-go/component/storageutil/mem"
	spi "github.com/hyperledger/aries-framework-go/spi/storage"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/identity/didcomm/internal/rfcholder"
)

// TestRemoveConnectionForgetsTheWallet: removing a connection (an erasure) deletes what the
// agent stored about the wallet on it — its peer DID document and the map from its key to its
// DID — and nothing of the wallet's other connection.
func TestRemoveConnectionForgetsTheWallet(t *testing.T) {
	storage := mem.NewProvider()
	agent, _ := startVerifierOn(t, storage)
	serve(agent, agent.Serve(quietHandler{})) // connections only: nothing is requested
	h := newHolder(t, rfcholder.Config{})
	gone, kept := connect(t, agent, h), connect(t, agent, h)
	ctx := rfcContext(t)

	// The agent records a connection as completed after the holder's complete message.
	var conns []didcomm.ConnectionInfo
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if conns, err = agent.Connections(ctx); err != nil {
			t.Fatal(err)
		}
		if len(conns) == 2 && conns[0].Completed() && conns[1].Completed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections not completed: %+v", conns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	i := slices.IndexFunc(conns, func(c didcomm.ConnectionInfo) bool { return c.TheirDID == gone.MyDID })
	if i < 0 {
		t.Fatalf("no connection with the holder's DID %s: %+v", gone.MyDID, conns)
	}

	docs, err := storage.OpenStore("peer")
	if err != nil {
		t.Fatal(err)
	}
	byKey, err := storage.OpenStore("didconnection")
	if err != nil {
		t.Fatal(err)
	}
	stored := func(s spi.Store, key string) bool {
		t.Helper()
		_, err := s.Get(key)
		if err != nil && !errors.Is(err, spi.ErrDataNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// Positive controls: the agent holds both wallets' documents and key maps (the map is
	// written as the exchange's last step lands, so it is waited for).
	for _, c := range []*rfcholder.Connection{gone, kept} {
		for !stored(docs, c.MyDID) || !stored(byKey, identity.DIDKey(c.MyKey())) {
			if time.Now().After(deadline) {
				t.Fatalf("the agent does not hold %s's document and key map: the test looks in the wrong place", c.MyDID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if err := agent.RemoveConnection(ctx, conns[i].ConnectionID); err != nil {
		t.Fatal(err)
	}
	if stored(docs, gone.MyDID) {
		t.Error("the removed wallet's peer DID document is still stored")
	}
	if stored(byKey, identity.DIDKey(gone.MyKey())) {
		t.Error("the removed wallet's key still maps to its DID")
	}
	if !stored(docs, kept.MyDID) || !stored(byKey, identity.DIDKey(kept.MyKey())) {
		t.Error("the other connection's DID document or key map went too")
	}
	if _, err := agent.Connection(ctx, conns[i].ConnectionID); !errors.Is(err, didcomm.ErrUnknownConnection) {
		t.Errorf("removed connection: %v, want ErrUnknownConnection", err)
	}
	if err := agent.RemoveConnection(ctx, conns[i].ConnectionID); !errors.Is(err, didcomm.ErrUnknownConnection) {
		t.Errorf("second removal: %v, want ErrUnknownConnection", err)
	}
}
