package identity

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// policyFile is the YAML shape of a policy file (see LoadPolicies).
type policyFile struct {
	Policies []policyYAML `yaml:"policies"`
}

type policyYAML struct {
	Name             string                 `yaml:"name"`
	Purpose          string                 `yaml:"purpose"`
	Assurance        string                 `yaml:"assurance"`
	Formats          []string               `yaml:"formats"`
	Credentials      []credentialYAML       `yaml:"credentials"`
	RequiredClaims   []string               `yaml:"required_claims"`
	OptionalClaims   []string               `yaml:"optional_claims"`
	DisplayClaims    []string               `yaml:"display_claims"`
	ClaimFilters     map[string]ClaimFilter `yaml:"claim_filters"`
	MaxCredentialAge string                 `yaml:"max_credential_age"`
	ClockSkew        string                 `yaml:"clock_skew"`
	Status           string                 `yaml:"status"`
	HolderDIDMethods []string               `yaml:"holder_did_methods"`
	InlineContexts   bool                   `yaml:"allow_inline_contexts"`
	IssuerNames      map[string]string      `yaml:"issuer_names"`
	DeleteOnErasure  bool                   `yaml:"delete_conversations_on_erasure"`
	AnonCreds        *AnonCredsPolicy       `yaml:"anoncreds"`
}

type credentialYAML struct {
	Type          string   `yaml:"type"`
	SDJWTTypes    []string `yaml:"sd_jwt_vct"`
	Issuers       []string `yaml:"issuers"`
	IssuerDomains []string `yaml:"issuer_domains"`
}

// LoadPolicies reads a YAML policy file (see ParsePolicies).
func LoadPolicies(path string) (map[string]*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	ps, err := ParsePolicies(b)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return ps, nil
}

// ParsePolicies parses a YAML policy file into validated policies by name. Unknown keys,
// duplicate names, bad durations, unknown formats or status modes, issuers that are not DIDs
// and invalid filter patterns are errors that name the line of the offending key (or value).
// The shape:
//
//	policies:
//	  - name: retail-banking            # used by POST /v1/sessions {"policy": …}
//	    purpose: Prove you are a customer of Example Bank.
//	    assurance: substantial          # reported with every verification
//	    formats: [ldp, bbs, jwt, sd-jwt] # default: all
//	    credentials:                    # accepted types; the first is the policy's type
//	      - type: VerifiedCustomer
//	        sd_jwt_vct: [https://credentials.example-bank.com/VerifiedCustomer]
//	        issuers: [did:web:issuer.example-bank.com]
//	        issuer_domains: [example-bank.com, "*.example-bank.com"]
//	    required_claims: [givenName, familyName, memberId]
//	    optional_claims: [email]
//	    display_claims: [givenName, familyName]
//	    claim_filters:
//	      memberId: {type: string, pattern: "^[0-9]{5,12}$"}
//	    max_credential_age: 365d        # Go durations, plus d for days
//	    clock_skew: 2m
//	    status: fail_closed             # fail_closed (default), fail_open or off
//	    holder_did_methods: [key, jwk, peer] # the default: resolved offline
//	    allow_inline_contexts: false    # the default
//	    issuer_names:                   # what the agent is shown for an issuer, by DID
//	      did:web:issuer.example-bank.com: Example Bank
//	    delete_conversations_on_erasure: false # the default: erasure scrubs the chats at Twilio
func ParsePolicies(data []byte) (map[string]*Policy, error) {
	var f policyFile
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		return nil, errors.New(yaml.FormatError(err, false, false))
	}
	if len(f.Policies) == 0 {
		return nil, errors.New("no policies: the file needs a \"policies\" list")
	}
	file, _ := parser.ParseBytes(data, 0) // it parsed above; nil only loses line numbers
	out := make(map[string]*Policy, len(f.Policies))
	for i, py := range f.Policies {
		p, err := py.policy()
		if err == nil {
			err = p.Validate()
		}
		if err == nil {
			if _, dup := out[p.Name]; dup {
				err = fieldErrorf("name", "policy %q is defined twice", p.Name)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", errorLine(file, i, err), err)
		}
		out[p.Name] = p
	}
	return out, nil
}

// errorLine returns the line of the field err is about in policy i, or of the policy itself
// when err names no field or the field is not in the file (a missing required key).
func errorLine(file *ast.File, i int, err error) int {
	var fe *fieldError
	if errors.As(err, &fe) && fe.field != "" {
		if n := nodeLine(file, fmt.Sprintf("$.policies[%d].%s", i, fe.field)); n > 0 {
			return n
		}
	}
	return nodeLine(file, fmt.Sprintf("$.policies[%d]", i))
}

// nodeLine returns the line of the YAML node at path, 0 if there is none.
func nodeLine(file *ast.File, path string) int {
	if file == nil {
		return 0
	}
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	node, err := p.FilterFile(file)
	if err != nil || node == nil || node.GetToken() == nil {
		return 0
	}
	return node.GetToken().Position.Line
}

func (py policyYAML) policy() (*Policy, error) {
	p := &Policy{
		Name: py.Name, Purpose: py.Purpose, Assurance: py.Assurance,
		RequiredClaims: py.RequiredClaims, OptionalClaims: py.OptionalClaims, DisplayClaims: py.DisplayClaims,
		ClaimFilters: py.ClaimFilters, Status: StatusMode(py.Status),
		HolderDIDMethods: py.HolderDIDMethods, AllowInlineContexts: py.InlineContexts,
		IssuerNames: py.IssuerNames, DeleteConversationsOnErasure: py.DeleteOnErasure, AnonCreds: py.AnonCreds,
	}
	if p.Name == "" {
		return nil, fieldErrorf("name", "policy: name is empty")
	}
	for _, f := range py.Formats {
		p.Formats = append(p.Formats, Format(f))
	}
	if len(py.Credentials) == 0 && py.AnonCreds == nil {
		return nil, fieldErrorf("credentials", "policy %q: no credentials (each with a type and its issuers)", p.Name)
	}
	for _, c := range py.Credentials {
		p.Credentials = append(p.Credentials, CredentialRule{
			Type: c.Type, SDJWTTypes: c.SDJWTTypes, TrustedIssuers: c.Issuers, TrustedDomains: c.IssuerDomains,
		})
	}
	if len(p.Credentials) > 0 {
		first := p.Credentials[0]
		p.CredentialType, p.TrustedIssuers, p.TrustedDomains = first.Type, first.TrustedIssuers, first.TrustedDomains
	}
	var err error
	if p.MaxCredentialAge, err = parseDuration(py.MaxCredentialAge); err != nil {
		return nil, fieldErrorf("max_credential_age", "policy %q: max_credential_age: %w", p.Name, err)
	}
	if p.ClockSkew, err = parseDuration(py.ClockSkew); err != nil {
		return nil, fieldErrorf("clock_skew", "policy %q: clock_skew: %w", p.Name, err)
	}
	if py.ClockSkew == "" {
		p.ClockSkew = DefaultClockSkew
	}
	if p.Assurance == "" {
		return nil, fieldErrorf("assurance", "policy %q: assurance is empty (say what a verification by this policy is worth)", p.Name)
	}
	return p, nil
}

// parseDuration parses a Go duration, or a whole number of days ("365d"); "" is zero.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 2m, 12h, 365d)", s)
	}
	return d, nil
}
