package didcomm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/dispatcher"
)

// unhandled answers every DIDComm v1 message no protocol service takes: a trust ping gets its
// response (wallets use it to check a new connection), anything else a problem report on the
// message's thread (RFC 0035) instead of a silent drop. The framework consults message
// services only after its protocol services, and only for senders on a known connection.
//
// Problem reports are the exception: they are never answered with a problem report (two
// agents that both did so would bounce reports forever). A wallet's problem report of any
// protocol (report-problem/1.0, notification/1.0, …) goes to the handler like a present-proof
// one: some wallets decline a presentation request that way.
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
	if isProblemReport(msg.Type()) {
		var pr ProblemReport
		_ = Decode(msg, &pr)
		peer.ConnectionID, _ = u.agent.lookup.GetConnectionIDByDIDs(peer.MyDID, peer.TheirDID)
		ctx, ok := u.agent.inbound.requestContext(msg.ID())
		if !ok {
			return "", errors.New("problem report outside an inbound request")
		}
		u.agent.handler().ProblemReported(ctx, ReceivedProblem{Peer: peer, Code: pr.Description.Code, Explain: pr.Description.En})
		return "", nil
	}
	if NormalizeType(msg.Type()) == TypeTrustPing {
		var ping struct {
			ResponseRequested *bool `json:"response_requested"`
		}
		_ = Decode(msg, &ping)
		if ping.ResponseRequested != nil && !*ping.ResponseRequested {
			return "", nil
		}
		resp, err := messageMap(struct {
			ID     string  `json:"@id"`
			Type   string  `json:"@type"`
			Thread *Thread `json:"~thread"`
		}{uuid.NewString(), TypeTrustPingResponse, &Thread{ID: thid}})
		if err != nil {
			return "", err
		}
		return "", u.agent.outbound.SendToDID(resp, peer.MyDID, peer.TheirDID)
	}
	return "", u.agent.sendProblem(peer, TypeReportProblem, "unsupported_message_type",
		fmt.Sprintf("this service does not handle %s", msg.Type()))
}

// isProblemReport reports whether a message type is a problem report of any protocol (RFC 0035
// names it problem-report; DID Exchange 1.0 problem_report).
func isProblemReport(msgType string) bool {
	return strings.HasSuffix(msgType, "/problem-report") || strings.HasSuffix(msgType, "/problem_report")
}

// messageServices is the framework's message service provider: just unhandled.
type messageServices struct{ list []dispatcher.MessageService }

func (m messageServices) Services() []dispatcher.MessageService { return m.list }
