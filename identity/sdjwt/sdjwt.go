// Package sdjwt reads and writes Selective Disclosure JWTs (RFC 9901, "SD-JWT"): splitting a
// presentation into issuer JWT, disclosures and key binding JWT, checking disclosures against
// the digests the issuer signed, and building the digests and disclosures an issuer signs.
//
// It does no signature verification and knows no keys: identity verifies the issuer JWT and
// the key binding JWT with jwx, and issuer and wallet sign with it. It depends on the standard
// library only, never on identity, broker, api or flex. Nothing here panics on untrusted input.
package sdjwt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Limits on untrusted input.
const (
	MaxDisclosures = 256
	maxDepth       = 16
)

// Presentation is an SD-JWT split into its parts: IssuerJWT~Disclosure~…~KeyBinding.
type Presentation struct {
	IssuerJWT   string
	Disclosures []string
	// KeyBinding is the key binding JWT, or "" if the SD-JWT ends with "~" (none).
	KeyBinding string
	// Signed is the part a key binding JWT's sd_hash covers: everything up to and including
	// the last "~".
	Signed string
}

// Split splits an SD-JWT presentation.
func Split(s string) (*Presentation, error) {
	parts := strings.Split(s, "~")
	if len(parts) < 2 {
		return nil, errors.New("an SD-JWT has at least one \"~\"")
	}
	if len(parts)-2 > MaxDisclosures {
		return nil, fmt.Errorf("more than %d disclosures", MaxDisclosures)
	}
	p := &Presentation{IssuerJWT: parts[0], KeyBinding: parts[len(parts)-1]}
	p.Signed = s[:len(s)-len(p.KeyBinding)]
	if p.IssuerJWT == "" {
		return nil, errors.New("the issuer JWT is empty")
	}
	for _, d := range parts[1 : len(parts)-1] {
		if d == "" {
			return nil, errors.New("an empty disclosure")
		}
		p.Disclosures = append(p.Disclosures, d)
	}
	return p, nil
}

// Digest returns the SHA-256 digest of a disclosure (or of any ASCII string, as sd_hash),
// base64url-encoded without padding.
func Digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ErrNotDisclosable is matched (errors.Is) by the error of Reveal when a disclosure names a
// claim that must not be selectively disclosable: "_sd", "..." or "_sd_alg" anywhere (RFC
// 9901), or one of the caller's alwaysVisible names at the top level of the payload. The error
// names the claim.
var ErrNotDisclosable = errors.New("a claim that must not be selectively disclosable is disclosed")

// reserved are the claim names no disclosure may carry (RFC 9901, section 4.2.1).
var reserved = map[string]bool{"_sd": true, "...": true, "_sd_alg": true}

type disclosure struct {
	name    string // "" for an array element
	value   any
	isArray bool
	used    bool
}

// Reveal replaces the digests in an issuer JWT payload with the values of the given
// disclosures and removes "_sd" and "_sd_alg". It refuses: a hash algorithm other than
// sha-256, a disclosure that is malformed, used twice, not referenced by any digest, or that
// would overwrite a claim, and a digest that appears twice. Digests without a disclosure
// (undisclosed claims, decoys) are dropped. payload is not modified.
//
// alwaysVisible are claims a profile requires in the clear (SD-JWT VC: iss, exp, cnf, …): a
// disclosure of one of them referenced from the payload's top level is refused with
// ErrNotDisclosable, as are disclosures named "_sd", "..." or "_sd_alg". The same names deeper
// in the payload are ordinary claims.
func Reveal(payload map[string]any, disclosures []string, alwaysVisible ...string) (map[string]any, error) {
	if alg, ok := payload["_sd_alg"]; ok && alg != "sha-256" {
		return nil, errors.New("_sd_alg is not sha-256")
	}
	byDigest := make(map[string]*disclosure, len(disclosures))
	for _, d := range disclosures {
		raw, err := base64.RawURLEncoding.DecodeString(d)
		if err != nil {
			return nil, errors.New("a disclosure is not base64url")
		}
		var arr []any
		if err := json.Unmarshal(raw, &arr); err != nil {
			return nil, errors.New("a disclosure is not a JSON array")
		}
		dd := &disclosure{}
		switch len(arr) {
		case 2:
			dd.isArray, dd.value = true, arr[1]
		case 3:
			name, ok := arr[1].(string)
			if !ok {
				return nil, errors.New("a disclosure's claim name is not a string")
			}
			if reserved[name] {
				return nil, fmt.Errorf("%w: %q", ErrNotDisclosable, name)
			}
			dd.name, dd.value = name, arr[2]
		default:
			return nil, errors.New("a disclosure is not [salt, name, value] or [salt, value]")
		}
		if _, ok := arr[0].(string); !ok {
			return nil, errors.New("a disclosure's salt is not a string")
		}
		dig := Digest(d)
		if _, dup := byDigest[dig]; dup {
			return nil, errors.New("a disclosure is presented twice")
		}
		byDigest[dig] = dd
	}
	seen := map[string]bool{}
	out, err := reveal(payload, byDigest, seen, 0)
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	for _, name := range alwaysVisible {
		if d := disclosedAtTop(payload, byDigest, name); d {
			return nil, fmt.Errorf("%w: %q", ErrNotDisclosable, name)
		}
	}
	for _, d := range byDigest {
		if !d.used {
			return nil, errors.New("a disclosure is not referenced by the issuer-signed JWT")
		}
	}
	delete(m, "_sd_alg")
	return m, nil
}

// disclosedAtTop reports whether a disclosure of claim name is referenced by a digest of
// payload's own "_sd" (reveal has checked the shapes).
func disclosedAtTop(payload map[string]any, byDigest map[string]*disclosure, name string) bool {
	list, _ := payload["_sd"].([]any)
	for _, e := range list {
		dig, _ := e.(string)
		if d, ok := byDigest[dig]; ok && !d.isArray && d.name == name {
			return true
		}
	}
	return false
}

func reveal(v any, byDigest map[string]*disclosure, seen map[string]bool, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if k == "_sd" {
				continue
			}
			r, err := reveal(val, byDigest, seen, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		if sd, ok := x["_sd"]; ok {
			list, ok := sd.([]any)
			if !ok {
				return nil, errors.New("_sd is not an array")
			}
			for _, e := range list {
				dig, ok := e.(string)
				if !ok {
					return nil, errors.New("an _sd digest is not a string")
				}
				if seen[dig] {
					return nil, errors.New("a digest appears twice")
				}
				seen[dig] = true
				d, ok := byDigest[dig]
				if !ok {
					continue // not disclosed, or a decoy
				}
				if d.isArray {
					return nil, errors.New("an array element disclosure is referenced as a claim")
				}
				if _, exists := out[d.name]; exists {
					return nil, errors.New("a disclosure would overwrite a claim")
				}
				d.used = true
				r, err := reveal(d.value, byDigest, seen, depth+1)
				if err != nil {
					return nil, err
				}
				out[d.name] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if m, ok := e.(map[string]any); ok && len(m) == 1 {
				if dv, ok := m["..."]; ok {
					dig, ok := dv.(string)
					if !ok {
						return nil, errors.New("an array digest is not a string")
					}
					if seen[dig] {
						return nil, errors.New("a digest appears twice")
					}
					seen[dig] = true
					d, ok := byDigest[dig]
					if !ok {
						continue
					}
					if !d.isArray {
						return nil, errors.New("a claim disclosure is referenced as an array element")
					}
					d.used = true
					r, err := reveal(d.value, byDigest, seen, depth+1)
					if err != nil {
						return nil, err
					}
					out = append(out, r)
					continue
				}
			}
			r, err := reveal(e, byDigest, seen, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	return v, nil
}

// NewDisclosure returns the disclosure of claim name with value and its digest, with a fresh
// 128-bit salt.
func NewDisclosure(name string, value any) (disclosure, digest string, err error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", "", err
	}
	b, err := json.Marshal([]any{base64.RawURLEncoding.EncodeToString(salt), name, value})
	if err != nil {
		return "", "", err
	}
	d := base64.RawURLEncoding.EncodeToString(b)
	return d, Digest(d), nil
}

// Conceal moves the named top-level claims of payload into disclosures: the returned payload
// carries their digests in "_sd" (sorted, as the specification recommends) and "_sd_alg". The
// disclosures are returned by claim name.
func Conceal(payload map[string]any, names []string) (map[string]any, map[string]string, error) {
	out := make(map[string]any, len(payload)+2)
	for k, v := range payload {
		out[k] = v
	}
	disclosures := make(map[string]string, len(names))
	var digests []string
	for _, n := range names {
		v, ok := out[n]
		if !ok {
			continue
		}
		d, dig, err := NewDisclosure(n, v)
		if err != nil {
			return nil, nil, err
		}
		delete(out, n)
		disclosures[n] = d
		digests = append(digests, dig)
	}
	sort.Strings(digests)
	sd := make([]any, len(digests))
	for i, d := range digests {
		sd[i] = d
	}
	out["_sd"] = sd
	out["_sd_alg"] = "sha-256"
	return out, disclosures, nil
}

// Join assembles an SD-JWT presentation: issuer JWT, the disclosures, and a trailing "~" (the
// key binding JWT, signed over Digest of this string as sd_hash, is appended after it).
func Join(issuerJWT string, disclosures []string) string {
	var b strings.Builder
	b.WriteString(issuerJWT)
	b.WriteByte('~')
	for _, d := range disclosures {
		b.WriteString(d)
		b.WriteByte('~')
	}
	return b.String()
}
