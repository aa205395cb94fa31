package flex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	studio "github.com/twilio/twilio-go/rest/studio/v2"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// SetupConfig is what Setup configures: the account of Config (credentials,
// AddressSID, BaseURL, HTTPClient), and the TaskRouter workflow and task
// channel the shipped Studio flow sends chats to.
type SetupConfig struct {
	Config
	// WorkflowSID (WW…) is the TaskRouter workflow of Flex tasks (console:
	// TaskRouter > Workspaces > Flex Task Assignment > Workflows); its
	// configuration should be WorkflowConfiguration's.
	WorkflowSID string
	// TaskChannel is the task channel: a SID (TC…) or a unique name such as
	// "chat" (the default), which needs WorkspaceSID to be looked up.
	TaskChannel string
	// WorkspaceSID (WS…) is the TaskRouter workspace of WorkflowSID; when
	// set, Setup also checks the workflow exists there.
	WorkspaceSID string
	// DryRun reports what would change and changes nothing.
	DryRun bool
}

// SetupReport is what Setup changed (or, in a dry run, would change).
type SetupReport struct {
	// Changes are one line each, e.g. `created Studio flow FW… "HearRo
	// verified web chat"`; none when the account was already set up.
	Changes []string
	// FlowSID is the Studio flow's SID; "" in a dry run that would create it.
	FlowSID string
	DryRun  bool
}

// String is the changes, one a line, or "nothing to change".
func (r SetupReport) String() string {
	if len(r.Changes) == 0 {
		return "nothing to change"
	}
	return strings.Join(r.Changes, "\n")
}

// ErrSetup is wrapped by Setup's errors that are the configuration's fault
// (a missing setting, an address or workflow Twilio does not have).
var ErrSetup = errors.New("flex setup")

// Setup makes the account's web chat run the shipped Studio flow: it
// creates or updates the Studio flow named StudioFlowName (published, the
// definition of StudioFlow for the workflow and task channel), then points
// the web chat address's auto-creation at it (type studio, enabled). It
// writes only what differs — the definition is compared as JSON, the address's
// auto_creation field by field — so a second run changes nothing. It does not
// retry; it is a command an operator runs.
func Setup(ctx context.Context, cfg SetupConfig) (SetupReport, error) {
	report := SetupReport{DryRun: cfg.DryRun}
	if cfg.TaskChannel == "" {
		cfg.TaskChannel = "chat"
	}
	if err := cfg.validate(); err != nil {
		return report, err
	}
	base, err := NewBaseClient(cfg.Config)
	if err != nil {
		return report, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	bc := base.bind(ctx)
	defer bc.done()
	rest := restClient(bc)
	do := func(op string, fn func() error) error {
		bc.forget()
		if err := ctx.Err(); err != nil {
			return &Error{Op: op, Message: err.Error(), Err: err}
		}
		if err := fn(); err != nil {
			return wrapError(op, err, bc.lastStatus(), bc.lastRetryAfter())
		}
		return nil
	}
	refused := func(err error) error {
		if isStatus(err, http.StatusUnauthorized) || isStatus(err, http.StatusForbidden) {
			return fmt.Errorf("%w: Twilio refused the credentials of account %s: %v", ErrSetup, cfg.AccountSID, err)
		}
		return err
	}

	// The address first: without it there is nothing to set up.
	var addr *conversations.ConversationsV1ConfigurationAddress
	if err := do("fetch conversations address", func() (err error) {
		addr, err = rest.ConversationsV1.FetchConfigurationAddress(cfg.AddressSID)
		return err
	}); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return report, fmt.Errorf("%w: address %s not found: set --twilio-address-sid to the Web Chat address (console: Flex > Manage > Messaging > Conversations Addresses)", ErrSetup, cfg.AddressSID)
		}
		return report, refused(err)
	}

	channel := cfg.TaskChannel
	if cfg.WorkspaceSID != "" {
		if err := do("fetch workflow", func() error {
			_, err := rest.TaskrouterV1.FetchWorkflow(cfg.WorkspaceSID, cfg.WorkflowSID)
			return err
		}); err != nil {
			if isStatus(err, http.StatusNotFound) {
				return report, fmt.Errorf("%w: workflow %s not found in workspace %s", ErrSetup, cfg.WorkflowSID, cfg.WorkspaceSID)
			}
			return report, refused(err)
		}
	}
	if !validSID(channel, "TC") {
		var channels []taskrouter.TaskrouterV1TaskChannel
		if err := do("list task channels", func() (err error) {
			channels, err = rest.TaskrouterV1.ListTaskChannel(cfg.WorkspaceSID, (&taskrouter.ListTaskChannelParams{}).SetPageSize(50).SetLimit(1000))
			return err
		}); err != nil {
			return report, refused(err)
		}
		channel = ""
		for _, c := range channels {
			if deref(c.UniqueName) == cfg.TaskChannel {
				channel = deref(c.Sid)
			}
		}
		if channel == "" {
			return report, fmt.Errorf("%w: workspace %s has no task channel %q", ErrSetup, cfg.WorkspaceSID, cfg.TaskChannel)
		}
	}
	definition, err := StudioFlow(cfg.WorkflowSID, channel)
	if err != nil {
		return report, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	var want any
	_ = json.Unmarshal(definition, &want) // the shipped file is JSON (tested)

	// The flow.
	var flows []studio.StudioV2Flow
	if err := do("list studio flows", func() (err error) {
		flows, err = rest.StudioV2.ListFlow((&studio.ListFlowParams{}).SetPageSize(50).SetLimit(1000))
		return err
	}); err != nil {
		return report, refused(err)
	}
	for _, f := range flows {
		if deref(f.FriendlyName) == StudioFlowName {
			report.FlowSID = deref(f.Sid)
			break
		}
	}
	switch {
	case report.FlowSID == "" && cfg.DryRun:
		report.Changes = append(report.Changes, fmt.Sprintf("would create Studio flow %q", StudioFlowName))
	case report.FlowSID == "":
		var created *studio.StudioV2Flow
		if err := do("create studio flow", func() (err error) {
			created, err = rest.StudioV2.CreateFlow((&studio.CreateFlowParams{}).SetFriendlyName(StudioFlowName).
				SetStatus("published").SetDefinition(json.RawMessage(definition)).SetCommitMessage("hearro flex setup"))
			return err
		}); err != nil {
			return report, refused(err)
		}
		report.FlowSID = deref(created.Sid)
		report.Changes = append(report.Changes, fmt.Sprintf("created Studio flow %s %q", report.FlowSID, StudioFlowName))
	default:
		var current *studio.StudioV2Flow
		if err := do("fetch studio flow", func() (err error) {
			current, err = rest.StudioV2.FetchFlow(report.FlowSID)
			return err
		}); err != nil {
			return report, refused(err)
		}
		var have any
		if current.Definition != nil {
			have = normalise(*current.Definition)
		}
		if reflect.DeepEqual(have, want) && deref(current.Status) == "published" {
			break
		}
		if cfg.DryRun {
			report.Changes = append(report.Changes, fmt.Sprintf("would update Studio flow %s %q", report.FlowSID, StudioFlowName))
			break
		}
		var updated *studio.StudioV2Flow
		if err := do("update studio flow", func() (err error) {
			updated, err = rest.StudioV2.UpdateFlow(report.FlowSID, (&studio.UpdateFlowParams{}).SetStatus("published").
				SetDefinition(json.RawMessage(definition)).SetCommitMessage("hearro flex setup"))
			return err
		}); err != nil {
			return report, refused(err)
		}
		report.Changes = append(report.Changes, fmt.Sprintf("updated Studio flow %s %q: definition (revision %d)", report.FlowSID, StudioFlowName, updated.Revision))
	}

	// The address's auto-creation.
	var auto struct {
		Enabled       bool   `json:"enabled"`
		Type          string `json:"type"`
		StudioFlowSID string `json:"studio_flow_sid"`
	}
	if addr.AutoCreation != nil {
		raw, _ := json.Marshal(*addr.AutoCreation)
		_ = json.Unmarshal(raw, &auto)
	}
	flowName := report.FlowSID
	if flowName == "" {
		flowName = "(the new flow)"
	}
	switch {
	case auto.Enabled && auto.Type == "studio" && auto.StudioFlowSID == report.FlowSID && report.FlowSID != "":
	case cfg.DryRun:
		report.Changes = append(report.Changes, fmt.Sprintf("would update address %s: auto-creation → studio flow %s", cfg.AddressSID, flowName))
	default:
		if err := do("update conversations address", func() error {
			_, err := rest.ConversationsV1.UpdateConfigurationAddress(cfg.AddressSID, (&conversations.UpdateConfigurationAddressParams{}).
				SetAutoCreationEnabled(true).SetAutoCreationType("studio").SetAutoCreationStudioFlowSid(report.FlowSID))
			return err
		}); err != nil {
			return report, refused(err)
		}
		report.Changes = append(report.Changes, fmt.Sprintf("updated address %s: auto-creation → studio flow %s", cfg.AddressSID, report.FlowSID))
	}
	return report, nil
}

// validate names every missing or malformed setting Setup needs.
func (cfg SetupConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validSID(cfg.AccountSID, "AC") {
		bad("the account SID is missing or malformed (want AC followed by 32 hex digits)")
	}
	if _, _, ok := cfg.restCredentials(); !ok {
		bad("no credentials: set the Auth Token, or the API key and its secret")
	}
	if !validSID(cfg.AddressSID, "IG") {
		bad("the web chat address SID %q is missing or malformed (want IG followed by 32 hex digits)", cfg.AddressSID)
	}
	if !validSID(cfg.WorkflowSID, "WW") {
		bad("the workflow SID %q is missing or malformed (want WW followed by 32 hex digits)", cfg.WorkflowSID)
	}
	if cfg.WorkspaceSID != "" && !validSID(cfg.WorkspaceSID, "WS") {
		bad("the workspace SID %q is malformed (want WS followed by 32 hex digits)", cfg.WorkspaceSID)
	}
	if !validSID(cfg.TaskChannel, "TC") && cfg.WorkspaceSID == "" {
		bad("the task channel %q is a name: give its SID (TC…) or the workspace SID to look it up", cfg.TaskChannel)
	}
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL); err != nil {
			bad("the API URL: %v", err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrSetup, errors.Join(errs...))
}

// normalise turns a definition as twilio-go decoded it into what
// json.Unmarshal makes of the shipped file, so the two compare.
func normalise(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}
