package didcomm

import (
	"crypto/ed25519"
	"fmt"

	"github.com/hyperledger/aries-framework-go/pkg/crypto"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/dispatcher"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/didexchange"
	"github.com/hyperledger/aries-framework-go/pkg/doc/util/jwkkid"
	"github.com/hyperledger/aries-framework-go/pkg/framework/aries/api"
	"github.com/hyperledger/aries-framework-go/pkg/framework/context"
	"github.com/hyperledger/aries-framework-go/pkg/kms"
	"github.com/hyperledger/aries-framework-go/pkg/vdr/fingerprint"
	"github.com/hyperledger/aries-framework-go/spi/storage"
)

// RFC 0023 requires the DID exchange response's did_doc~attach to be signed by the key of the
// invitation the requester answered; wallets built on ACA-Py and Credo check it. aries-framework-
// go signs it only when built with its ACAPyInterop tag, which also rewrites peer DIDs into
// did:sov ones. So the verifier runs the library's DID exchange service with an outbound
// dispatcher that signs the attachment of every response before it leaves.

// invitationKeys remembers the recipient key of each invitation this agent created.
type invitationKeys struct{ store storage.Store }

func (k invitationKeys) put(invitationID, didKey string) error {
	return k.store.Put(invitationID, []byte(didKey))
}

func (k invitationKeys) get(invitationID string) (string, error) {
	b, err := k.store.Get(invitationID)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// signingOutbound wraps the framework's dispatcher for the DID exchange service only.
type signingOutbound struct {
	dispatcher.Outbound
	kms    kms.KeyManager
	crypto crypto.Crypto
	keys   invitationKeys
}

func (o *signingOutbound) Send(msg interface{}, senderKey string, dest *service.Destination) error {
	if resp, ok := msg.(*didexchange.Response); ok && resp.DocAttach != nil && resp.DocAttach.Data.JWS == nil {
		if err := o.sign(resp); err != nil {
			return fmt.Errorf("sign did exchange response: %w", err)
		}
	}
	return o.Outbound.Send(msg, senderKey, dest)
}

func (o *signingOutbound) sign(resp *didexchange.Response) error {
	if resp.Thread == nil || resp.Thread.PID == "" {
		return fmt.Errorf("response has no parent thread (invitation id)")
	}
	didKey, err := o.keys.get(resp.Thread.PID)
	if err != nil {
		return fmt.Errorf("invitation %s: %w", resp.Thread.PID, err)
	}
	pub, err := fingerprint.PubKeyFromDIDKey(didKey)
	if err != nil {
		return err
	}
	kid, err := jwkkid.CreateKID(pub, kms.ED25519Type)
	if err != nil {
		return err
	}
	kh, err := o.kms.Get(kid)
	if err != nil {
		return fmt.Errorf("invitation key: %w", err)
	}
	return resp.DocAttach.Data.Sign(o.crypto, kh, ed25519.PublicKey(pub), pub)
}

// exchangeProvider is the framework context with the signing dispatcher in place of its own.
type exchangeProvider struct {
	*context.Provider
	outbound dispatcher.Outbound
}

func (p exchangeProvider) OutboundDispatcher() dispatcher.Outbound { return p.outbound }

// signedExchange returns a protocol service creator for the DID exchange service that signs
// its responses. Registered before the framework's defaults, it is the one every lookup finds.
func signedExchange(keys invitationKeys) api.ProtocolSvcCreator {
	return api.ProtocolSvcCreator{
		Create: func(api.Provider) (dispatcher.ProtocolService, error) {
			return normalizingExchange{&didexchange.Service{}}, nil // see diddoc.go
		},
		Init: func(svc dispatcher.ProtocolService, prv api.Provider) error {
			ctx, ok := prv.(*context.Provider)
			if !ok {
				return fmt.Errorf("did exchange: unexpected provider %T", prv)
			}
			out := &signingOutbound{Outbound: ctx.OutboundDispatcher(), kms: ctx.KMS(), crypto: ctx.Crypto(), keys: keys}
			return svc.Initialize(exchangeProvider{Provider: ctx, outbound: out})
		},
	}
}
