package registry

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDLength bounds every identifier this package parses or builds; it is the limit
// identity/anoncreds puts on identifiers in a presentation.
const MaxIDLength = 256

// Kind is the kind of object an identifier names.
type Kind int

// Kinds of AnonCreds objects.
const (
	// KindUnknown: a DID URL of a method whose identifiers do not say what they name (a
	// did:cheqd resource, say). The source's answer decides.
	KindUnknown Kind = iota
	KindSchema
	KindCredentialDefinition
	KindRevocationRegistryDefinition
)

func (k Kind) String() string {
	switch k {
	case KindSchema:
		return "schema"
	case KindCredentialDefinition:
		return "credential definition"
	case KindRevocationRegistryDefinition:
		return "revocation registry definition"
	}
	return "object"
}

// Form is the syntax of an identifier.
type Form int

// Identifier syntaxes.
const (
	// FormLegacy: an unqualified Indy identifier, "<nym>:2:<name>:<version>",
	// "<nym>:3:CL:<schema seqNo or schema id>:<tag>",
	// "<nym>:4:<cred def id>:CL_ACCUM:<tag>". It names no ledger: which one holds it is
	// configuration.
	FormLegacy Form = iota + 1
	// FormDIDIndy: a did:indy object DID URL,
	// "did:indy:<namespace>:<nym>/anoncreds/v0/SCHEMA/<name>/<version>",
	// ".../CLAIM_DEF/<schema seqNo>/<tag>",
	// ".../REV_REG_DEF/<schema seqNo>/<cred def tag>/<tag>".
	FormDIDIndy
	// FormDIDURL: any other DID URL with a path, "did:<method>:<id>/<path>" (did:cheqd
	// resources, did:webvh, ...), for a Universal Resolver to dereference.
	FormDIDURL
)

func (f Form) String() string {
	switch f {
	case FormLegacy:
		return "legacy indy"
	case FormDIDIndy:
		return "did:indy"
	case FormDIDURL:
		return "did url"
	}
	return "invalid"
}

// ID is a parsed AnonCreds object identifier. The zero value is not a valid ID.
type ID struct {
	raw  string
	Form Form
	Kind Kind
	// Issuer is the DID of the object's issuer: "did:indy:<namespace>:<nym>" for did:indy,
	// the DID part of any other DID URL, and the bare nym for a legacy id (which names no
	// DID method).
	Issuer string
	// Method is the DID method ("indy", "cheqd", ...); empty for legacy ids.
	Method string
	// Namespace is the did:indy ledger namespace ("sovrin", "sovrin:staging"); empty for
	// the other forms.
	Namespace string
	// Nym is the unqualified Indy DID of the issuer (legacy and did:indy forms).
	Nym string
	// Name and Version of a schema.
	Name, Version string
	// SchemaRef is what a credential definition (or the credential definition of a
	// revocation registry) says its schema is: a ledger sequence number in decimal, or,
	// in the legacy form only, a legacy schema id.
	SchemaRef string
	// Tag is a credential definition's tag; for a revocation registry, the tag of its
	// credential definition.
	Tag string
	// RevTag is a revocation registry's tag.
	RevTag string
	// Path is the path of a FormDIDURL id, starting with "/".
	Path string
}

// String returns the identifier exactly as parsed.
func (id ID) String() string { return id.raw }

// ParseID parses an AnonCreds object identifier in any of the three forms (see Form). It
// never panics; every error wraps ErrMalformedID.
func ParseID(s string) (ID, error) {
	if s == "" || len(s) > MaxIDLength {
		return ID{}, fail(ErrMalformedID, "id", s, "empty or longer than %d bytes", MaxIDLength)
	}
	if !utf8.ValidString(s) {
		return ID{}, fail(ErrMalformedID, "id", s, "not UTF-8")
	}
	var (
		id  ID
		err error
	)
	if strings.HasPrefix(s, "did:") {
		id, err = parseDIDURL(s)
	} else {
		id, err = parseLegacy(s)
	}
	if err != nil {
		return ID{}, fail(ErrMalformedID, "id", s, "%v", err)
	}
	id.raw = s
	return id, nil
}

func parseLegacy(s string) (ID, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 4 {
		return ID{}, fmt.Errorf("neither a DID URL nor a legacy indy id")
	}
	nym := parts[0]
	if !isNym(nym) {
		return ID{}, fmt.Errorf("legacy id does not start with an indy DID")
	}
	id := ID{Form: FormLegacy, Nym: nym, Issuer: nym}
	switch parts[1] {
	case "2":
		if len(parts) != 4 {
			return ID{}, fmt.Errorf("legacy schema id has %d parts, not 4", len(parts))
		}
		id.Kind, id.Name, id.Version = KindSchema, parts[2], parts[3]
		if err := checkName(id.Name, true); err != nil {
			return ID{}, fmt.Errorf("schema name: %v", err)
		}
		if err := checkName(id.Version, true); err != nil {
			return ID{}, fmt.Errorf("schema version: %v", err)
		}
		return id, nil
	case "3":
		ref, tag, err := legacyCredDef(parts)
		if err != nil {
			return ID{}, err
		}
		id.Kind, id.SchemaRef, id.Tag = KindCredentialDefinition, ref, tag
		return id, nil
	case "4":
		n := len(parts)
		if n != 9 && n != 12 || parts[n-2] != "CL_ACCUM" {
			return ID{}, fmt.Errorf("legacy revocation registry id is not <did>:4:<cred def id>:CL_ACCUM:<tag>")
		}
		inner := parts[2 : n-2]
		if inner[0] != nym || inner[1] != "3" {
			return ID{}, fmt.Errorf("revocation registry's credential definition has another issuer")
		}
		ref, tag, err := legacyCredDef(inner)
		if err != nil {
			return ID{}, err
		}
		if err := checkName(parts[n-1], true); err != nil {
			return ID{}, fmt.Errorf("revocation registry tag: %v", err)
		}
		id.Kind, id.SchemaRef, id.Tag, id.RevTag = KindRevocationRegistryDefinition, ref, tag, parts[n-1]
		return id, nil
	}
	return ID{}, fmt.Errorf("legacy id marker %q is not 2, 3 or 4", clip(parts[1]))
}

// legacyCredDef reads "<nym>:3:CL:<seqNo>:<tag>" or "<nym>:3:CL:<schema id>:<tag>", split.
func legacyCredDef(parts []string) (ref, tag string, err error) {
	switch {
	case len(parts) == 5 && parts[2] == "CL":
		ref = parts[3]
		if !isSeqNo(ref) {
			return "", "", fmt.Errorf("credential definition's schema reference is not a sequence number")
		}
	case len(parts) == 8 && parts[2] == "CL" && parts[4] == "2":
		if !isNym(parts[3]) {
			return "", "", fmt.Errorf("credential definition's schema id has no indy DID")
		}
		for _, p := range parts[5:7] {
			if err := checkName(p, true); err != nil {
				return "", "", fmt.Errorf("credential definition's schema id: %v", err)
			}
		}
		ref = strings.Join(parts[3:7], ":")
	default:
		return "", "", fmt.Errorf("legacy credential definition id is not <did>:3:CL:<schema>:<tag>")
	}
	tag = parts[len(parts)-1]
	if err := checkName(tag, true); err != nil {
		return "", "", fmt.Errorf("credential definition tag: %v", err)
	}
	return ref, tag, nil
}

func parseDIDURL(s string) (ID, error) {
	if strings.ContainsAny(s, "?#") {
		return ID{}, fmt.Errorf("an object id has no query or fragment")
	}
	did, path, ok := strings.Cut(s, "/")
	if !ok || path == "" {
		return ID{}, fmt.Errorf("a DID without a path names no object")
	}
	path = "/" + path
	rest := strings.TrimPrefix(did, "did:")
	method, msid, ok := strings.Cut(rest, ":")
	if !ok || method == "" || msid == "" {
		return ID{}, fmt.Errorf("not a DID")
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return ID{}, fmt.Errorf("DID method has a character other than a-z, 0-9")
		}
	}
	if strings.HasSuffix(msid, ":") || !validChars(msid, "._-:%") || !validPercent(msid) {
		return ID{}, fmt.Errorf("method-specific id has characters a DID cannot have")
	}
	if !validChars(path, "-._~!$&'()*+,;=:@/%") || !validPercent(path) {
		return ID{}, fmt.Errorf("path has characters a DID URL path cannot have")
	}
	if method == "indy" {
		return parseDIDIndy(did, msid, path)
	}
	return ID{Form: FormDIDURL, Kind: KindUnknown, Issuer: did, Method: method, Path: path}, nil
}

func parseDIDIndy(did, msid, path string) (ID, error) {
	i := strings.LastIndexByte(msid, ':')
	if i < 0 {
		return ID{}, fmt.Errorf("did:indy has no namespace")
	}
	ns, nym := msid[:i], msid[i+1:]
	if !isNym(nym) {
		return ID{}, fmt.Errorf("did:indy id is not an indy DID")
	}
	nss := strings.Split(ns, ":")
	if len(nss) > 2 {
		return ID{}, fmt.Errorf("did:indy namespace has more than two parts")
	}
	for _, n := range nss {
		if n == "" || !validNamespace(n) {
			return ID{}, fmt.Errorf("did:indy namespace has characters other than a-z, 0-9, _ and -")
		}
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) < 3 || segs[0] != "anoncreds" || segs[1] != "v0" {
		return ID{}, fmt.Errorf("did:indy path is not /anoncreds/v0/...")
	}
	args := make([]string, len(segs)-3)
	for j, seg := range segs[3:] {
		v, err := url.PathUnescape(seg)
		if err != nil {
			return ID{}, fmt.Errorf("bad percent-encoding")
		}
		args[j] = v
	}
	id := ID{Form: FormDIDIndy, Issuer: did, Method: "indy", Namespace: ns, Nym: nym}
	switch {
	case segs[2] == "SCHEMA" && len(args) == 2:
		id.Kind, id.Name, id.Version = KindSchema, args[0], args[1]
	case segs[2] == "CLAIM_DEF" && len(args) == 2:
		id.Kind, id.SchemaRef, id.Tag = KindCredentialDefinition, args[0], args[1]
	case segs[2] == "REV_REG_DEF" && len(args) == 3:
		id.Kind, id.SchemaRef, id.Tag, id.RevTag = KindRevocationRegistryDefinition, args[0], args[1], args[2]
	default:
		return ID{}, fmt.Errorf("did:indy path names no schema, CLAIM_DEF or REV_REG_DEF")
	}
	if id.Kind != KindSchema && !isSeqNo(id.SchemaRef) {
		return ID{}, fmt.Errorf("schema sequence number is not a decimal number")
	}
	var names []string
	switch id.Kind {
	case KindSchema:
		names = []string{id.Name, id.Version}
	case KindCredentialDefinition:
		names = []string{id.Tag}
	default:
		names = []string{id.Tag, id.RevTag}
	}
	for _, v := range names {
		if err := checkName(v, false); err != nil {
			return ID{}, err
		}
	}
	return id, nil
}

// Legacy returns the legacy Indy form of a legacy or did:indy id, if it has one: a
// did:indy name with a ':' has none.
func (id ID) Legacy() (string, bool) {
	var s string
	switch {
	case id.Form == FormLegacy:
		return id.raw, true
	case id.Form != FormDIDIndy:
		return "", false
	case id.Kind == KindSchema:
		if strings.Contains(id.Name, ":") || strings.Contains(id.Version, ":") {
			return "", false
		}
		s = id.Nym + ":2:" + id.Name + ":" + id.Version
	case id.Kind == KindCredentialDefinition:
		if strings.Contains(id.Tag, ":") {
			return "", false
		}
		s = id.Nym + ":3:CL:" + id.SchemaRef + ":" + id.Tag
	case id.Kind == KindRevocationRegistryDefinition:
		if strings.Contains(id.Tag, ":") || strings.Contains(id.RevTag, ":") {
			return "", false
		}
		s = id.Nym + ":4:" + id.Nym + ":3:CL:" + id.SchemaRef + ":" + id.Tag + ":CL_ACCUM:" + id.RevTag
	default:
		return "", false
	}
	return s, len(s) <= MaxIDLength
}

// DIDIndy returns the did:indy form of a legacy or did:indy id on the ledger namespace
// (a did:indy id keeps its own namespace when namespace is ""). A legacy credential
// definition that names its schema by id rather than sequence number has none.
func (id ID) DIDIndy(namespace string) (string, bool) {
	if id.Form != FormLegacy && id.Form != FormDIDIndy {
		return "", false
	}
	if namespace == "" {
		namespace = id.Namespace
	}
	if namespace == "" || len(namespace) > MaxIDLength {
		return "", false
	}
	for _, n := range strings.Split(namespace, ":") {
		if n == "" || !validNamespace(n) {
			return "", false
		}
	}
	if strings.Count(namespace, ":") > 1 {
		return "", false
	}
	base := "did:indy:" + namespace + ":" + id.Nym + "/anoncreds/v0/"
	e := url.PathEscape
	var s string
	switch id.Kind {
	case KindSchema:
		s = base + "SCHEMA/" + e(id.Name) + "/" + e(id.Version)
	case KindCredentialDefinition:
		if !isSeqNo(id.SchemaRef) {
			return "", false
		}
		s = base + "CLAIM_DEF/" + id.SchemaRef + "/" + e(id.Tag)
	case KindRevocationRegistryDefinition:
		if !isSeqNo(id.SchemaRef) {
			return "", false
		}
		s = base + "REV_REG_DEF/" + id.SchemaRef + "/" + e(id.Tag) + "/" + e(id.RevTag)
	default:
		return "", false
	}
	return s, len(s) <= MaxIDLength
}

// CredDefID returns, for a revocation registry id, the id of its credential definition in
// the same form.
func (id ID) CredDefID() (string, bool) {
	if id.Kind != KindRevocationRegistryDefinition {
		return "", false
	}
	switch id.Form {
	case FormLegacy:
		parts := strings.Split(id.raw, ":")
		return strings.Join(parts[2:len(parts)-2], ":"), true
	case FormDIDIndy:
		return id.Issuer + "/anoncreds/v0/CLAIM_DEF/" + id.SchemaRef + "/" + url.PathEscape(id.Tag), true
	}
	return "", false
}

func isNym(s string) bool {
	if len(s) < 16 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(base58Alphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func isSeqNo(s string) bool {
	if s == "" || len(s) > 10 || s[0] == '0' {
		return false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return err == nil && n > 0 && n <= 1<<31-1
}

// checkName accepts a schema name or version, or a tag: non-empty, valid UTF-8, no control
// characters; in the legacy form also no ':' (the separator).
func checkName(s string, legacy bool) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || legacy && r == ':' {
			return fmt.Errorf("has a control character or separator")
		}
	}
	return nil
}

func validNamespace(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// validPercent reports whether every '%' starts a two-hex-digit escape.
func validPercent(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
