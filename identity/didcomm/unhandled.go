package didcomm

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/dispatcher"
)

// unhandled answers every DIDComm v1 message no protocol service takes: a trust ping gets its
// response (wallets use it to check a new connection), anything else a problem report on the
// message's thread (RFC 0035) instead of a silent drop. The framework consults message
// services only after its protocol services, and only for senders on a known connection.
type unhandled struct{ agent *Agent }

var _ dispatcher.MessageService = unhandled{}

func (unhandled) Name() string { return "hearro-unhandled" }

func (unhandled) Accept(string, []string) bool { return true }

func (u unhandled) HandleInbound(msg service.DIDCommMsg, dctx service.DIDCommContext) (string, error) {
	if dctx.MyDID() == "" || dctx.TheirDID() == "" {
		return "", errors.New("message outside any connection")
	}
	thid, err := msg.ThreadID()
	if err != nil {
		return "", err
	}
	peer := Peer{ThreadID: thid, MyDID: dctx.MyDID(), TheirDID: dctx.TheirDID()}
	if NormalizeType(msg.Type()) == TypeTrustPing {
		var ping struct {
			ResponseRequested *bool `json:"response_requested"`
		}
		_ = msg.Decode(&ping)
		if ping.ResponseRequested != nil && !*ping.ResponseRequested {
			return "", nil
		}
		resp := service.NewDIDCommMsgMap(struct {
			ID     string  `json:"@id"`
			Type   string  `json:"@type"`
			Thread *Thread `json:"~thread"`
		}{uuid.NewString(), TypeTrustPingResponse, &Thread{ID: thid}})
		return "", u.agent.outbound.SendToDID(resp, peer.MyDID, peer.TheirDID)
	}
	return "", u.agent.sendProblem(peer, TypeReportProblem, "unsupported_message_type",
		fmt.Sprintf("this service does not handle %s", msg.Type()))
}

// messageServices is the framework's message service provider: just unhandled.
type messageServices struct{ list []dispatcher.MessageService }

func (m messageServices) Services() []dispatcher.MessageService { return m.list }
