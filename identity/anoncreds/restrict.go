package anoncreds

import (
	"bytes"
	"encoding/json"
	"strings"
)

// credFacts are what a restriction may test about the credential behind a sub-proof.
type credFacts struct {
	tags     map[string]string // schema_id, schema_name, …, issuer_did
	attrs    map[string]bool   // attributes the credential has (common view)
	revealed map[string]string // revealed raw values in this sub-proof (common view)
}

// restrictionsEmpty reports whether a restrictions member asks nothing (absent, null, [] or
// {}): only then may the holder self-attest the attribute.
func restrictionsEmpty(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null" || string(t) == "[]" || string(t) == "{}"
}

// matchRestrictions evaluates a restrictions member: a list of queries (any may match) or
// one WQL query. Supported: equality, $in, $neq, $and, $or, $not on the tags schema_id,
// schema_issuer_did, schema_issuer_id, schema_name, schema_version, cred_def_id, issuer_did,
// issuer_id, rev_reg_id, attr::NAME::value and attr::NAME::marker. Anything else is refused
// as malformed rather than ignored, so a restriction is never silently dropped.
func matchRestrictions(raw json.RawMessage, f *credFacts) (bool, error) {
	if restrictionsEmpty(raw) {
		return true, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, refuse(ReasonMalformed, "restrictions: %v", err)
	}
	return matchQuery(v, f, 0)
}

func matchQuery(v any, f *credFacts, depth int) (bool, error) {
	if depth > 8 {
		return false, refuse(ReasonMalformed, "restrictions nested too deep")
	}
	switch q := v.(type) {
	case []any: // a list: any query may match
		if len(q) == 0 {
			return true, nil
		}
		for _, e := range q {
			ok, err := matchQuery(e, f, depth+1)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case map[string]any: // an object: every key must hold
		for key, val := range q {
			ok, err := matchKey(key, val, f, depth)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	default:
		return false, refuse(ReasonMalformed, "restriction is neither a list nor an object")
	}
}

func matchKey(key string, val any, f *credFacts, depth int) (bool, error) {
	switch key {
	case "$and", "$or":
		list, ok := val.([]any)
		if !ok {
			return false, refuse(ReasonMalformed, "%s needs a list", key)
		}
		for _, e := range list {
			m, err := matchQuery(e, f, depth+1)
			if err != nil {
				return false, err
			}
			if key == "$or" && m {
				return true, nil
			}
			if key == "$and" && !m {
				return false, nil
			}
		}
		return key == "$and", nil
	case "$not":
		m, err := matchQuery(val, f, depth+1)
		return !m, err
	}
	actual, known, err := tagValue(key, f)
	if err != nil {
		return false, err
	}
	switch want := val.(type) {
	case string:
		return known && actual == want, nil
	case map[string]any:
		if len(want) != 1 {
			return false, refuse(ReasonMalformed, "restriction on %q has %d operators", key, len(want))
		}
		for op, arg := range want {
			switch op {
			case "$in":
				list, ok := arg.([]any)
				if !ok {
					return false, refuse(ReasonMalformed, "$in needs a list")
				}
				for _, e := range list {
					s, ok := e.(string)
					if !ok {
						return false, refuse(ReasonMalformed, "$in needs strings")
					}
					if known && actual == s {
						return true, nil
					}
				}
				return false, nil
			case "$neq":
				s, ok := arg.(string)
				if !ok {
					return false, refuse(ReasonMalformed, "$neq needs a string")
				}
				return known && actual != s, nil
			default:
				return false, refuse(ReasonMalformed, "restriction operator %q is not supported", op)
			}
		}
	}
	return false, refuse(ReasonMalformed, "restriction on %q has a value of the wrong type", key)
}

// tagValue returns the credential's value for a restriction tag; known is false when the
// credential has no such value (an attribute not revealed, a registry it does not use).
func tagValue(key string, f *credFacts) (value string, known bool, err error) {
	if strings.HasPrefix(key, "attr::") {
		rest := strings.TrimPrefix(key, "attr::")
		i := strings.LastIndex(rest, "::")
		if i <= 0 {
			return "", false, refuse(ReasonMalformed, "restriction tag %q", key)
		}
		name, kind := commonView(rest[:i]), rest[i+2:]
		switch kind {
		case "value":
			v, ok := f.revealed[name]
			return v, ok, nil
		case "marker":
			if f.attrs[name] {
				return "1", true, nil
			}
			return "", false, nil
		}
		return "", false, refuse(ReasonMalformed, "restriction tag %q", key)
	}
	switch key {
	case "schema_id", "schema_issuer_did", "schema_issuer_id", "schema_name", "schema_version",
		"cred_def_id", "issuer_did", "issuer_id", "rev_reg_id":
		v, ok := f.tags[key]
		return v, ok, nil
	}
	return "", false, refuse(ReasonMalformed, "restriction tag %q is not supported", key)
}

// legacyDID returns the DID that prefixes a legacy Indy identifier ("DID:2:name:1.0",
// "DID:3:CL:…"), or "".
func legacyDID(id, marker string) string {
	parts := strings.Split(id, ":")
	if len(parts) >= 3 && parts[1] == marker {
		return parts[0]
	}
	return ""
}

func factsFor(id Identifier, s *Schema, d *CredentialDefinition) *credFacts {
	f := &credFacts{tags: map[string]string{}, attrs: map[string]bool{}, revealed: map[string]string{}}
	f.tags["schema_id"] = id.SchemaID
	f.tags["cred_def_id"] = id.CredDefID
	f.tags["schema_name"] = s.Name
	f.tags["schema_version"] = s.Version
	schemaIssuer := s.IssuerID
	if schemaIssuer == "" {
		schemaIssuer = legacyDID(id.SchemaID, "2")
	}
	if schemaIssuer != "" {
		f.tags["schema_issuer_did"] = schemaIssuer
		f.tags["schema_issuer_id"] = schemaIssuer
	}
	issuer := d.IssuerID
	if issuer == "" {
		issuer = legacyDID(id.CredDefID, "3")
	}
	if issuer != "" {
		f.tags["issuer_did"] = issuer
		f.tags["issuer_id"] = issuer
	}
	if id.RevRegID != nil {
		f.tags["rev_reg_id"] = *id.RevRegID
	}
	for _, a := range s.AttrNames {
		f.attrs[commonView(a)] = true
	}
	return f
}
