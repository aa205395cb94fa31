package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/hearro/trustbroker/identity/status"
)

// Status entry and list types the verifier reads.
const (
	StatusList2021Entry           = "StatusList2021Entry"
	StatusList2021Credential      = "StatusList2021Credential"
	BitstringStatusListEntry      = "BitstringStatusListEntry"
	BitstringStatusListCredential = "BitstringStatusListCredential"
)

// Status purposes that make a set bit a refusal.
const (
	StatusPurposeRevocation = "revocation"
	StatusPurposeSuspension = "suspension"
)

// statusEntry is one credentialStatus entry.
type statusEntry struct {
	typ     string
	purpose string
	index   int
	size    int
	list    string
}

// statusEntries reads a credentialStatus member (object or array). Entries of other purposes
// than revocation and suspension are ignored; entries of unknown types are kept, and refused
// by checkStatus unless the policy does not check status.
func statusEntries(v any) ([]statusEntry, error) {
	var list []any
	switch s := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		list = []any{s}
	case []any:
		list = s
	default:
		return nil, reject(ReasonMalformed, "credentialStatus is neither an object nor an array")
	}
	var out []statusEntry
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, reject(ReasonMalformed, "a credentialStatus entry is not an object")
		}
		se := statusEntry{size: 1}
		for _, t := range types(m) {
			if se.typ == "" || t == StatusList2021Entry || t == BitstringStatusListEntry {
				se.typ = t
			}
		}
		se.purpose, _ = m["statusPurpose"].(string)
		se.list, _ = m["statusListCredential"].(string)
		if se.typ != StatusList2021Entry && se.typ != BitstringStatusListEntry {
			out = append(out, se)
			continue
		}
		if se.purpose != StatusPurposeRevocation && se.purpose != StatusPurposeSuspension {
			continue
		}
		idx, err := intMember(m, "statusListIndex")
		if err != nil || idx < 0 {
			return nil, reject(ReasonMalformed, "credentialStatus statusListIndex is not a non-negative integer")
		}
		se.index = idx
		if _, has := m["statusSize"]; has {
			if se.size, err = intMember(m, "statusSize"); err != nil || se.size != 1 {
				return nil, reject(ReasonMalformed, "a %s status entry has a status size of 1", se.purpose)
			}
		}
		if se.list == "" {
			return nil, reject(ReasonMalformed, "credentialStatus names no statusListCredential")
		}
		out = append(out, se)
	}
	return out, nil
}

// intMember reads an integer written as a JSON number or a decimal string (the specifications
// use strings).
func intMember(m map[string]any, name string) (int, error) {
	switch x := m[name].(type) {
	case string:
		return strconv.Atoi(x)
	case float64:
		if x == float64(int(x)) {
			return int(x), nil
		}
	}
	return 0, errors.New("not an integer")
}

// statusList is a fetched, verified status list credential.
type statusList struct {
	issuer     string
	purposes   []string
	bits       status.Bitstring
	validUntil time.Time
}

// checkStatus consults every status list a credential names. checked reports whether all of
// them were consulted.
func (v *Verifier) checkStatus(ctx context.Context, c *presentedCredential, p *Policy) (checked bool, err error) {
	mode := p.statusMode()
	if mode == StatusOff || len(c.status) == 0 {
		return false, nil
	}
	checked = true
	for _, e := range c.status {
		if e.typ != StatusList2021Entry && e.typ != BitstringStatusListEntry {
			return false, reject(ReasonStatusUnavailable, "credential status type %q is not supported", truncate(e.typ))
		}
		if v.status == nil {
			if mode == StatusFailOpen {
				checked = false
				continue
			}
			return false, reject(ReasonStatusUnavailable, "this service does not fetch status lists")
		}
		res, err := v.status.List(ctx, e.list, v.parseStatusList)
		if err != nil {
			if errors.Is(err, status.ErrUnavailable) && mode == StatusFailOpen {
				checked = false
				continue
			}
			if ReasonOf(err) == "" {
				return false, reject(ReasonStatusUnavailable, "status list %s: %v", truncate(e.list), err)
			}
			return false, reject(ReasonStatusUnavailable, "status list %s: %v", truncate(e.list), err)
		}
		list := res.(*statusList)
		if list.issuer != c.issuer {
			return false, reject(ReasonStatusUnavailable, "status list %s is not issued by the credential's issuer", truncate(e.list))
		}
		if !slices.Contains(list.purposes, e.purpose) {
			return false, reject(ReasonStatusUnavailable, "status list %s is not a %s list", truncate(e.list), e.purpose)
		}
		if !list.validUntil.IsZero() && !list.validUntil.After(v.now().Add(-v.clockSkew)) {
			return false, reject(ReasonStatusUnavailable, "status list %s has expired", truncate(e.list))
		}
		bit, err := list.bits.Get(e.index, e.size)
		if err != nil {
			return false, reject(ReasonMalformed, "credential status index: %v", err)
		}
		if bit != 0 {
			if e.purpose == StatusPurposeSuspension {
				return false, reject(ReasonSuspended, "credential is suspended (status list %s)", truncate(e.list))
			}
			return false, reject(ReasonRevoked, "credential is revoked (status list %s)", truncate(e.list))
		}
	}
	return checked, nil
}

// parseStatusList verifies a fetched status list credential (JSON-LD with a Data Integrity
// proof, or a VC-JWT) and decodes its list.
func (v *Verifier) parseStatusList(ctx context.Context, body []byte, _ string) (any, error) {
	trimmed := bytes.TrimSpace(body)
	var doc map[string]any
	var issuer string
	var validUntil time.Time
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if err := checkDepth(trimmed, v.maxDepth); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(trimmed, &doc); err != nil {
			return nil, reject(ReasonMalformed, "status list is not JSON")
		}
		var err error
		if doc, issuer, validUntil, err = v.verifyStandaloneLD(ctx, doc); err != nil {
			return nil, err
		}
	} else {
		var err error
		if doc, issuer, validUntil, err = v.verifyStandaloneJWT(ctx, string(trimmed)); err != nil {
			return nil, err
		}
	}
	t := types(doc)
	if !slices.Contains(t, StatusList2021Credential) && !slices.Contains(t, BitstringStatusListCredential) {
		return nil, reject(ReasonMalformed, "status list credential is not a StatusList2021Credential or BitstringStatusListCredential")
	}
	subject, _ := doc["credentialSubject"].(map[string]any)
	if subject == nil {
		return nil, reject(ReasonMalformed, "status list credential has no credentialSubject")
	}
	st := types(subject)
	if !slices.Contains(st, "StatusList2021") && !slices.Contains(st, "BitstringStatusList") {
		return nil, reject(ReasonMalformed, "status list subject is not a StatusList2021 or BitstringStatusList")
	}
	var purposes []string
	switch p := subject["statusPurpose"].(type) {
	case string:
		purposes = []string{p}
	case []any:
		for _, e := range p {
			if s, ok := e.(string); ok {
				purposes = append(purposes, s)
			}
		}
	}
	encoded, _ := subject["encodedList"].(string)
	bits, err := status.Decode(encoded, 0)
	if err != nil {
		return nil, reject(ReasonMalformed, "status list: %v", err)
	}
	if vu, err := timeField(subject, "validUntil"); err == nil && !vu.IsZero() && (validUntil.IsZero() || vu.Before(validUntil)) {
		validUntil = vu
	}
	return &statusList{issuer: issuer, purposes: purposes, bits: bits, validUntil: validUntil}, nil
}

// verifyStandaloneLD verifies a JSON-LD credential that is not presented (a status list): its
// issuer's proof, and that it is within its validity period. It returns the credential as its
// proof signs it (see signedLD).
func (v *Verifier) verifyStandaloneLD(ctx context.Context, vc map[string]any) (signed map[string]any, issuer string, validUntil time.Time, err error) {
	doc, err := v.signedLD(vc, "status list credential", "VerifiableCredential", SupportedProofTypes, false)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	issuer = idOf(doc.node["issuer"])
	if issuer == "" || count(doc.node["issuer"]) != 1 {
		return nil, "", time.Time{}, reject(ReasonMalformed, "status list credential has no single issuer")
	}
	var c presentedCredential
	if err := ldDates(&c, doc.node, false); err != nil {
		return nil, "", time.Time{}, err
	}
	if !c.validFrom.IsZero() && c.validFrom.After(v.now().Add(v.clockSkew)) {
		return nil, "", time.Time{}, reject(ReasonMalformed, "status list credential is not valid yet")
	}
	for _, p := range doc.proofs {
		if p.purpose != purposeAssertionMethod {
			return nil, "", time.Time{}, reject(ReasonMalformed, "status list proof purpose is %q", truncate(p.purpose))
		}
	}
	if err := v.verifyLDProofs(ctx, doc.proofs, issuer, purposeAssertionMethod, ReasonIssuerMismatch); err != nil {
		if ReasonOf(err) == ReasonBadSignature {
			return nil, "", time.Time{}, reject(ReasonBadSignature, "status list credential signature does not verify")
		}
		return nil, "", time.Time{}, err
	}
	return doc.node, issuer, c.validUntil, nil
}
