package registry

import (
	"strings"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// This file holds the checks every source applies to what it returns: the object parses
// under identity/anoncreds' limits, and it is the object its identifier names (its own id,
// issuer, name, version and tags agree with the id). A source that returned, for a
// requested id, some other issuer's object would let that issuer's key stand in for the
// one a policy trusts.

// parseFor parses s as an id of the kind a Registry method asks for.
func parseFor(what Kind, s string) (ID, error) {
	id, err := ParseID(s)
	if err != nil {
		return ID{}, err
	}
	if id.Kind != KindUnknown && id.Kind != what {
		return ID{}, fail(ErrMalformedID, what.String(), s, "the id names a %s", id.Kind)
	}
	return id, nil
}

func invalid(id ID, format string, args ...any) error {
	return fail(ErrInvalidObject, id.Kind.String(), id.raw, format, args...)
}

// sameObject reports whether other names the same object as id: the same string, or, for
// Indy ids, the same ledger object in legacy and did:indy form (two did:indy ids must also
// agree on the namespace).
func sameObject(other string, id ID) bool {
	if other == id.raw {
		return true
	}
	o, err := ParseID(other)
	if err != nil || o.Form == FormDIDURL || id.Form == FormDIDURL {
		return false
	}
	if o.Form == FormDIDIndy && id.Form == FormDIDIndy && o.Namespace != id.Namespace {
		return false
	}
	return o.Kind == id.Kind && o.Nym == id.Nym && o.Name == id.Name && o.Version == id.Version &&
		o.SchemaRef == id.SchemaRef && o.Tag == id.Tag && o.RevTag == id.RevTag
}

// issuerMatches reports whether an object's issuerId is the issuer id names. An Indy
// object's issuer may be written as the bare nym, did:sov:<nym> or did:indy:<ns>:<nym>.
func issuerMatches(issuer string, id ID) bool {
	if issuer == "" || issuer == id.Issuer {
		return true
	}
	if id.Form == FormDIDURL {
		return false
	}
	if issuer == id.Nym || issuer == "did:sov:"+id.Nym {
		return true
	}
	if rest, ok := strings.CutPrefix(issuer, "did:indy:"); ok {
		ns, nym, ok := cutLast(rest, ':')
		return ok && nym == id.Nym && (id.Form == FormLegacy || ns == id.Namespace)
	}
	return false
}

func cutLast(s string, sep byte) (before, after string, found bool) {
	if i := strings.LastIndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// checkSchema checks a parsed schema against id and fills in its id and issuer.
func checkSchema(id ID, s *anoncreds.Schema) (*anoncreds.Schema, error) {
	if s.ID != "" && !sameObject(s.ID, id) {
		return nil, invalid(id, "the object's id is %q", clip(s.ID))
	}
	if !issuerMatches(s.IssuerID, id) {
		return nil, invalid(id, "the object's issuer is %q", clip(s.IssuerID))
	}
	if id.Kind == KindSchema && (s.Name != id.Name || s.Version != id.Version) {
		return nil, invalid(id, "the object is schema %q version %q", clip(s.Name), clip(s.Version))
	}
	s.ID = id.raw
	if s.IssuerID == "" {
		s.IssuerID = id.Issuer
	}
	return s, nil
}

// checkCredDef checks a parsed credential definition against id and fills in its id,
// issuer, tag and schema reference.
func checkCredDef(id ID, d *anoncreds.CredentialDefinition) (*anoncreds.CredentialDefinition, error) {
	if d.ID != "" && !sameObject(d.ID, id) {
		return nil, invalid(id, "the object's id is %q", clip(d.ID))
	}
	if !issuerMatches(d.IssuerID, id) {
		return nil, invalid(id, "the object's issuer is %q", clip(d.IssuerID))
	}
	if id.Kind == KindCredentialDefinition {
		if d.Tag != "" && d.Tag != id.Tag {
			return nil, invalid(id, "the object's tag is %q", clip(d.Tag))
		}
		// The schema may be named by sequence number (on the ledger) or by id (in the
		// AnonCreds specification's shape): only two different numbers, or two different
		// ids, contradict each other.
		if d.SchemaID != "" && isSeqNo(d.SchemaID) == isSeqNo(id.SchemaRef) && !sameSchemaRef(d.SchemaID, id.SchemaRef) {
			return nil, invalid(id, "the object's schema is %q", clip(d.SchemaID))
		}
		d.Tag = id.Tag
		if d.SchemaID == "" {
			d.SchemaID = id.SchemaRef
		}
	}
	d.ID = id.raw
	if d.IssuerID == "" {
		d.IssuerID = id.Issuer
	}
	return d, nil
}

func sameSchemaRef(a, b string) bool {
	if a == b {
		return true
	}
	bid, err := ParseID(b)
	return err == nil && sameObject(a, bid)
}

// checkRevRegDef checks a parsed revocation registry definition against id and fills in
// its id and issuer.
func checkRevRegDef(id ID, d *RevocationRegistryDefinition) (*RevocationRegistryDefinition, error) {
	if d.ID != "" && !sameObject(d.ID, id) {
		return nil, invalid(id, "the object's id is %q", clip(d.ID))
	}
	if !issuerMatches(d.IssuerID, id) {
		return nil, invalid(id, "the object's issuer is %q", clip(d.IssuerID))
	}
	if id.Kind == KindRevocationRegistryDefinition {
		cd, _ := id.CredDefID()
		cdid, _ := ParseID(cd)
		if d.Tag != id.RevTag || !sameObject(d.CredDefID, cdid) {
			return nil, invalid(id, "the object is registry %q of %q", clip(d.Tag), clip(d.CredDefID))
		}
	}
	d.ID = id.raw
	if d.IssuerID == "" {
		d.IssuerID = id.Issuer
	}
	return d, nil
}

// checkStatusList checks a parsed status list against the registry id it was asked for
// and the time it was asked at.
func checkStatusList(id ID, timestamp int64, l *RevocationStatusList) (*RevocationStatusList, error) {
	if !sameObject(l.RevRegDefID, id) {
		return nil, fail(ErrInvalidObject, "revocation status list of", id.raw, "the list is of %q", clip(l.RevRegDefID))
	}
	if !issuerMatches(l.IssuerID, id) {
		return nil, fail(ErrInvalidObject, "revocation status list of", id.raw, "the list's issuer is %q", clip(l.IssuerID))
	}
	if timestamp > 0 && l.Timestamp > timestamp {
		return nil, fail(ErrInvalidObject, "revocation status list of", id.raw, "the list is from %d, after %d", l.Timestamp, timestamp)
	}
	l.RevRegDefID = id.raw
	if l.IssuerID == "" {
		l.IssuerID = id.Issuer
	}
	return l, nil
}

// checkStatusAgainstDef checks that a list fits its registry.
func checkStatusAgainstDef(id ID, l *RevocationStatusList, d *RevocationRegistryDefinition) error {
	if uint64(len(l.RevocationList)) != uint64(d.Value.MaxCredNum) {
		return fail(ErrInvalidObject, "revocation status list of", id.raw, "%d entries for a registry of %d", len(l.RevocationList), d.Value.MaxCredNum)
	}
	return nil
}
