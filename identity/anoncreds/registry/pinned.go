package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/goccy/go-yaml"

	"github.com/hearro/trustbroker/identity/anoncreds"
	"github.com/hearro/trustbroker/internal/jsonlimit"
)

// MaxPinnedFileBytes bounds a pinned file.
const MaxPinnedFileBytes = 32 << 20

// Pinned serves objects from a file the operator wrote: no network, no ledger.
//
// Pinning is trusting. A pinned credential definition is taken as the issuer's key
// without asking any ledger whether the issuer published it; whoever can edit the file
// can make the service accept credentials they sign themselves. Pin only objects copied
// from the ledger (or received from the issuer) over a channel you trust, keep the file
// under the same change control as the trust policy, and remember that a pinned status
// list is frozen: a credential revoked after it was pinned still looks valid.
//
// The file is JSON or YAML, with one section per kind, each keyed by id; status lists are
// keyed by their registry's id, any number per registry:
//
//	schemas:
//	  "<schema id>": {"name": …, "version": …, "attrNames": […], "issuerId": …}
//	credentialDefinitions:
//	  "<cred def id>": {"schemaId": …, "type": "CL", "tag": …, "value": {"primary": {…}}}
//	revocationRegistryDefinitions:
//	  "<rev reg def id>": {"revocDefType": "CL_ACCUM", "credDefId": …, "tag": …, "value": {…}}
//	revocationStatusLists:
//	  "<rev reg def id>": [{"revocationList": […], "currentAccumulator": …, "timestamp": …}]
//
// Every object is parsed and checked against its id when the file is loaded (the same
// checks as for a ledger's answer); the first failure is reported with its section and
// id. A Pinned is immutable and safe for concurrent use; its objects are shared and must
// not be modified.
type Pinned struct {
	schemas  map[string]*anoncreds.Schema
	credDefs map[string]*anoncreds.CredentialDefinition
	revRegs  map[string]*RevocationRegistryDefinition
	lists    map[string][]*RevocationStatusList // by registry, oldest first
}

var _ Registry = (*Pinned)(nil)

type pinnedFile struct {
	Schemas                       map[string]json.RawMessage   `json:"schemas"`
	CredentialDefinitions         map[string]json.RawMessage   `json:"credentialDefinitions"`
	RevocationRegistryDefinitions map[string]json.RawMessage   `json:"revocationRegistryDefinitions"`
	RevocationStatusLists         map[string][]json.RawMessage `json:"revocationStatusLists"`
}

// LoadPinned reads and checks a pinned file (JSON, or YAML).
func LoadPinned(path string) (*Pinned, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("registry: pinned file: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxPinnedFileBytes+1)); err != nil {
		return nil, fmt.Errorf("registry: pinned file %s: %w", path, err)
	}
	p, err := ParsePinned(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return p, nil
}

// ParsePinned reads and checks the contents of a pinned file: JSON if it starts with
// '{', YAML otherwise.
func ParsePinned(b []byte) (*Pinned, error) {
	if len(b) > MaxPinnedFileBytes {
		return nil, fmt.Errorf("registry: pinned file larger than %d bytes", MaxPinnedFileBytes)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] != '{' {
		j, err := yaml.YAMLToJSON(b)
		if err != nil {
			return nil, fmt.Errorf("registry: pinned file: YAML: %v", err)
		}
		b = j
	}
	if jsonlimit.TooDeep(b, maxJSONDepth) {
		return nil, fmt.Errorf("registry: pinned file: JSON nested deeper than %d", maxJSONDepth)
	}
	var f pinnedFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("registry: pinned file: %v", err)
	}
	p := &Pinned{
		schemas:  map[string]*anoncreds.Schema{},
		credDefs: map[string]*anoncreds.CredentialDefinition{},
		revRegs:  map[string]*RevocationRegistryDefinition{},
		lists:    map[string][]*RevocationStatusList{},
	}
	// Sorted, so that the error reported for a file with several bad entries is stable.
	for _, k := range sortedKeys(f.Schemas) {
		s, err := pinnedObject(KindSchema, k, f.Schemas[k], anoncreds.ParseSchema, checkSchema)
		if err != nil {
			return nil, err
		}
		p.schemas[k] = s
	}
	for _, k := range sortedKeys(f.CredentialDefinitions) {
		d, err := pinnedObject(KindCredentialDefinition, k, f.CredentialDefinitions[k], anoncreds.ParseCredentialDefinition, checkCredDef)
		if err != nil {
			return nil, err
		}
		p.credDefs[k] = d
	}
	for _, k := range sortedKeys(f.RevocationRegistryDefinitions) {
		d, err := pinnedObject(KindRevocationRegistryDefinition, k, f.RevocationRegistryDefinitions[k], ParseRevocationRegistryDefinition, checkRevRegDef)
		if err != nil {
			return nil, err
		}
		p.revRegs[k] = d
	}
	for _, k := range sortedKeys(f.RevocationStatusLists) {
		id, err := parseFor(KindRevocationRegistryDefinition, k)
		if err != nil {
			return nil, fmt.Errorf("registry: pinned revocationStatusLists: %w", err)
		}
		def := p.revRegs[k]
		for i, raw := range f.RevocationStatusLists[k] {
			l, err := parseStatusListFor(id, raw)
			if err == nil && def != nil {
				err = checkStatusAgainstDef(id, l, def)
			}
			if err != nil {
				return nil, fmt.Errorf("registry: pinned revocationStatusLists %q [%d]: %w", clip(k), i, err)
			}
			p.lists[k] = append(p.lists[k], l)
		}
		ls := p.lists[k]
		sort.Slice(ls, func(i, j int) bool { return ls[i].Timestamp < ls[j].Timestamp })
	}
	return p, nil
}

func parseStatusListFor(id ID, raw []byte) (*RevocationStatusList, error) {
	var l RevocationStatusList
	if err := decodeJSON(raw, MaxStatusListBytes, &l); err != nil {
		return nil, fail(ErrInvalidObject, "revocation status list of", id.raw, "%v", err)
	}
	if l.RevRegDefID == "" {
		l.RevRegDefID = id.raw
	}
	if err := l.validate(); err != nil {
		return nil, fail(ErrInvalidObject, "revocation status list of", id.raw, "%v", err)
	}
	return checkStatusList(id, 0, &l)
}

func pinnedObject[T any](kind Kind, key string, raw []byte, parse func([]byte) (*T, error), check func(ID, *T) (*T, error)) (*T, error) {
	id, err := parseFor(kind, key)
	if err != nil {
		return nil, fmt.Errorf("registry: pinned %s: %w", kind, err)
	}
	v, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("registry: pinned %s %q: %w: %v", kind, clip(key), ErrInvalidObject, err)
	}
	v, err = check(id, v)
	if err != nil {
		return nil, fmt.Errorf("registry: pinned: %w", err)
	}
	return v, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Schema returns a pinned schema, or ErrNotFound.
func (p *Pinned) Schema(_ context.Context, id string) (*anoncreds.Schema, error) {
	if s := p.schemas[id]; s != nil {
		return s, nil
	}
	return nil, fail(ErrNotFound, "schema", id, "not pinned")
}

// CredentialDefinition returns a pinned credential definition, or ErrNotFound.
func (p *Pinned) CredentialDefinition(_ context.Context, id string) (*anoncreds.CredentialDefinition, error) {
	if d := p.credDefs[id]; d != nil {
		return d, nil
	}
	return nil, fail(ErrNotFound, "credential definition", id, "not pinned")
}

// RevocationRegistryDefinition returns a pinned revocation registry definition, or
// ErrNotFound.
func (p *Pinned) RevocationRegistryDefinition(_ context.Context, id string) (*RevocationRegistryDefinition, error) {
	if d := p.revRegs[id]; d != nil {
		return d, nil
	}
	return nil, fail(ErrNotFound, "revocation registry definition", id, "not pinned")
}

// RevocationStatusList returns the latest pinned list of the registry with a timestamp at
// or before timestamp (0: the latest pinned), or ErrNotFound.
func (p *Pinned) RevocationStatusList(_ context.Context, revRegDefID string, timestamp int64) (*RevocationStatusList, error) {
	ls := p.lists[revRegDefID]
	for i := len(ls) - 1; i >= 0; i-- {
		if timestamp == 0 || ls[i].Timestamp <= timestamp {
			return ls[i], nil
		}
	}
	return nil, fail(ErrNotFound, "revocation status list of", revRegDefID, "none pinned at that time")
}
