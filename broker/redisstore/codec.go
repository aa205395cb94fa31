package redisstore

import (
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mr-tron/base58"
	"github.com/oklog/ulid/v2"

	"github.com/hearro/trustbroker/broker"
)

// Record formats: the first byte of every session and identity value, so that the encodings
// can change later without a migration.
const (
	sessionFormat  = 0x01
	identityFormat = 0x01
)

// sessionHeaderLen is the length of a session record's header: format and version. Scripts
// compare the header to detect a concurrent write (optimistic concurrency on Version).
const sessionHeaderLen = 9

// encodeSession lays a session out as format | version (uint64, big endian) | JSON.
func encodeSession(s *broker.Session) ([]byte, error) {
	j, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	rec := make([]byte, sessionHeaderLen, sessionHeaderLen+len(j))
	rec[0] = sessionFormat
	binary.BigEndian.PutUint64(rec[1:], uint64(s.Version))
	return append(rec, j...), nil
}

func decodeSession(rec []byte) (*broker.Session, error) {
	if len(rec) < sessionHeaderLen || rec[0] != sessionFormat {
		return nil, errors.New("corrupt session record: unknown format")
	}
	var s broker.Session
	if err := json.Unmarshal(rec[sessionHeaderLen:], &s); err != nil {
		return nil, fmt.Errorf("corrupt session record: %w", err)
	}
	if uint64(s.Version) != binary.BigEndian.Uint64(rec[1:sessionHeaderLen]) {
		return nil, errors.New("corrupt session record: header and body disagree on the version")
	}
	return &s, nil
}

// An identity record is the list (see appendList) marked "L" of the sessions that verified
// the identity (for erasure: see DeleteIdentity), then the identity (encodeIdentity).

// encodeIdentityRecord returns the record of ident and the sessions that verified it.
func encodeIdentityRecord(ident *broker.Identity, sessions []string) ([]byte, error) {
	return appendIdentity(appendList(make([]byte, 0, 256), 'L', sessions...), ident)
}

// decodeIdentityRecord returns the identity in a record and the sessions that verified it.
func decodeIdentityRecord(id string, rec []byte) (*broker.Identity, []string, error) {
	if len(rec) == 0 || rec[0] != 'L' {
		return nil, nil, errors.New("corrupt identity record: unknown format")
	}
	sessions, body, err := cutList(rec[1:])
	if err != nil {
		return nil, nil, errors.New("corrupt identity record: bad session list")
	}
	ident, err := decodeIdentity(id, body)
	return ident, sessions, err
}

// A list, the head of identity and agent records, is a marker byte, the length of the rest of
// the list in decimal, ":", then per field its length in decimal, ":" and its bytes. Decimal
// lengths keep any byte usable in a field and let the scripts read the list (luaFields).

// appendList appends the list of fields marked marker to b.
func appendList(b []byte, marker byte, fields ...string) []byte {
	var list []byte
	for _, f := range fields {
		list = strconv.AppendInt(list, int64(len(f)), 10)
		list = append(append(list, ':'), f...)
	}
	b = strconv.AppendInt(append(b, marker), int64(len(list)), 10)
	return append(append(b, ':'), list...)
}

// cutList's errors: the list's length is bad, or a field's is.
var (
	errListLength = errors.New("bad list length")
	errListField  = errors.New("bad list field")
)

// cutList reads a list that appendList wrote, after its marker: its fields, and the rest of b.
// At a bad field it stops, with the fields before it.
func cutList(b []byte) (fields []string, rest []byte, err error) {
	n, rest, ok := cutLength(b)
	if !ok || n > len(rest) {
		return nil, nil, errListLength
	}
	list, rest := rest[:n], rest[n:]
	for len(list) > 0 {
		var field []byte
		if field, list, ok = cutField(list); !ok {
			return fields, nil, errListField
		}
		fields = append(fields, string(field))
	}
	return fields, rest, nil
}

// cutLength reads a decimal length and its ":".
func cutLength(b []byte) (n int, rest []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 10 {
		n = n*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || i >= len(b) || b[i] != ':' {
		return 0, nil, false
	}
	return n, b[i+1:], true
}

// cutField reads a length-prefixed field.
func cutField(b []byte) (field, rest []byte, ok bool) {
	n, rest, ok := cutLength(b)
	if !ok || n > len(rest) {
		return nil, nil, false
	}
	return rest[:n], rest[n:], true
}

// decodeIdentityOnly is decodeIdentityRecord without the sessions.
func decodeIdentityOnly(id string, rec []byte) (*broker.Identity, error) {
	ident, _, err := decodeIdentityRecord(id, rec)
	return ident, err
}

// appendIdentity lays an identity out compactly, since it is the record kept longest and in
// the largest numbers (see BenchmarkIdentityMemory): the format byte; FlexIdentity, HolderDID,
// IssuerDID and CredentialType (appendPacked); the claims (appendClaims); Policy, Assurance,
// ConnectionID and SessionID (appendPacked); CreatedAt, then VerifiedAt relative to CreatedAt
// and ExpiresAt relative to VerifiedAt (appendTime). The ID is the key's suffix and is not
// repeated. Every field decodes to exactly what was encoded.
func appendIdentity(b []byte, ident *broker.Identity) ([]byte, error) {
	b = append(b, identityFormat)
	for _, s := range []string{ident.FlexIdentity, ident.HolderDID, ident.IssuerDID, ident.CredentialType} {
		b = appendPacked(b, s)
	}
	b, err := appendClaims(b, ident.Claims)
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	for _, s := range []string{ident.Policy, ident.Assurance, ident.ConnectionID, ident.SessionID} {
		b = appendPacked(b, s)
	}
	b = appendTime(b, ident.CreatedAt, time.Time{})
	b = appendTime(b, ident.VerifiedAt, ident.CreatedAt)
	b = appendTime(b, ident.ExpiresAt, ident.VerifiedAt)
	return b, nil
}

func decodeIdentity(id string, rec []byte) (*broker.Identity, error) {
	if len(rec) == 0 || rec[0] != identityFormat {
		return nil, errors.New("corrupt identity record: unknown format")
	}
	d := decoder{b: rec[1:]}
	ident := &broker.Identity{ID: id}
	ident.FlexIdentity = d.packed()
	ident.HolderDID = d.packed()
	ident.IssuerDID = d.packed()
	ident.CredentialType = d.packed()
	ident.Claims = d.claims()
	ident.Policy = d.packed()
	ident.Assurance = d.packed()
	ident.ConnectionID = d.packed()
	ident.SessionID = d.packed()
	ident.CreatedAt = d.time(time.Time{})
	ident.VerifiedAt = d.time(ident.CreatedAt)
	ident.ExpiresAt = d.time(ident.VerifiedAt)
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("corrupt identity record: %w", d.err)
	}
	return ident, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Kinds of a packed string: identifiers the service generates are kept as their bytes rather
// than their text, when the text is exactly the canonical form of those bytes.
const (
	packRaw       = 0 // uvarint length, bytes
	packUUID      = 1 // 16 bytes of a lower-case 8-4-4-4-12 UUID
	packULID      = 2 // 16 bytes of an upper-case ULID
	packPseudonym = 3 // 32 bytes of "hr_" + lower-case unpadded base32 (broker.Pseudonym)
	packDIDKey    = 4 // uvarint length, bytes of "did:key:z" + base58btc
	packCommon    = 5 // one byte: an index in commonStrings
)

// commonStrings are strings that recur in every identity record: common claim names
// (schema.org's, as the demo credential uses) and the service's usual values. The list is part
// of the record format: entries may be appended, never changed, removed or reordered.
var commonStrings = []string{
	"givenName", "familyName", "memberId", "email", "telephone", "birthDate", "postalCode",
	"name", "address", "gender", "nationality", "identifier", "streetAddress", "addressLocality",
	"addressRegion", "addressCountry", "VerifiedCustomer", "verified-customer", "development",
	"low", "substantial", "high",
}

var commonIndex = func() map[string]byte {
	m := make(map[string]byte, len(commonStrings))
	for i, s := range commonStrings {
		m[s] = byte(i)
	}
	return m
}()

var pseudonymBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// appendPacked appends s in the shortest of the forms above that gives s back exactly.
func appendPacked(b []byte, s string) []byte {
	if i, ok := commonIndex[s]; ok {
		return append(b, packCommon, i)
	}
	switch {
	case len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-':
		if raw, err := hex.DecodeString(s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]); err == nil && formatUUID(raw) == s {
			return append(append(b, packUUID), raw...)
		}
	case len(s) == ulid.EncodedSize:
		if id, err := ulid.ParseStrict(s); err == nil && id.String() == s {
			return append(append(b, packULID), id[:]...)
		}
	case len(s) == len(broker.PseudonymPrefix)+52 && strings.HasPrefix(s, broker.PseudonymPrefix):
		raw, err := pseudonymBase32.DecodeString(strings.ToUpper(s[len(broker.PseudonymPrefix):]))
		if err == nil && len(raw) == 32 && broker.PseudonymPrefix+strings.ToLower(pseudonymBase32.EncodeToString(raw)) == s {
			return append(append(b, packPseudonym), raw...)
		}
	case strings.HasPrefix(s, "did:key:z") && len(s) > 9:
		if raw, err := base58.Decode(s[9:]); err == nil && len(raw) > 0 && base58.Encode(raw) == s[9:] {
			b = append(b, packDIDKey)
			b = binary.AppendUvarint(b, uint64(len(raw)))
			return append(b, raw...)
		}
	}
	return appendString(append(b, packRaw), s)
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// appendClaims lays the claims out as uvarint(count+1) (0 for a nil map), then per claim, in
// name order, the name (packed) and the value: 's' and the string, or 'j' and its JSON.
func appendClaims(b []byte, claims map[string]any) ([]byte, error) {
	if claims == nil {
		return append(b, 0), nil
	}
	b = binary.AppendUvarint(b, uint64(len(claims))+1)
	for _, name := range slices.Sorted(maps.Keys(claims)) {
		b = appendPacked(b, name)
		if s, ok := claims[name].(string); ok {
			b = appendString(append(b, 's'), s)
			continue
		}
		j, err := json.Marshal(claims[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b = appendString(append(b, 'j'), string(j))
	}
	return b, nil
}

// Time kinds in an identity record.
const (
	timeZero        = 0 // the zero time.Time, nothing follows
	timeUTC         = 1 // varint Unix seconds, uvarint nanoseconds
	timeOffset      = 2 // as timeUTC, then the zone's offset east of UTC in seconds (varint)
	timeUTCDelta    = 3 // varint nanoseconds after the reference time
	timeOffsetDelta = 4 // as timeUTCDelta, then the zone's offset
)

// appendTime keeps the instant to the nanosecond and the zone offset (what JSON shows of a
// time); the zone's name is not kept, as in JSON. A time close to ref (non-zero) is kept as
// the difference.
func appendTime(b []byte, t, ref time.Time) []byte {
	if t.IsZero() {
		return append(b, timeZero)
	}
	_, offset := t.Zone()
	if !ref.IsZero() {
		if d := t.Sub(ref); ref.Add(d).Equal(t) {
			kind := byte(timeUTCDelta)
			if offset != 0 {
				kind = timeOffsetDelta
			}
			b = binary.AppendVarint(append(b, kind), int64(d))
			if offset != 0 {
				b = binary.AppendVarint(b, int64(offset))
			}
			return b
		}
	}
	kind := byte(timeUTC)
	if offset != 0 {
		kind = timeOffset
	}
	b = append(b, kind)
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	if offset != 0 {
		b = binary.AppendVarint(b, int64(offset))
	}
	return b
}

// decoder reads the fields of an identity record; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 { return readNumber(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return readNumber(d, binary.Varint) }

// readNumber reads a number with read (binary.Uvarint or binary.Varint).
func readNumber[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.err = errors.New("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errors.New("string runs past the end")
	}
	return string(d.bytes(int(n)))
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.err = errors.New("field runs past the end")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) kind() byte {
	if k := d.bytes(1); k != nil {
		return k[0]
	}
	return 0
}

func (d *decoder) packed() string {
	switch kind := d.kind(); kind {
	case packRaw:
		return d.string()
	case packUUID:
		if raw := d.bytes(16); raw != nil {
			return formatUUID(raw)
		}
	case packULID:
		var id ulid.ULID
		if raw := d.bytes(16); raw != nil {
			copy(id[:], raw)
			return id.String()
		}
	case packPseudonym:
		if raw := d.bytes(32); raw != nil {
			return broker.PseudonymPrefix + strings.ToLower(pseudonymBase32.EncodeToString(raw))
		}
	case packDIDKey:
		if raw := d.bytes(int(min(d.uvarint(), uint64(len(d.b)+1)))); raw != nil {
			return "did:key:z" + base58.Encode(raw)
		}
	case packCommon:
		if i := d.kind(); d.err == nil && int(i) < len(commonStrings) {
			return commonStrings[i]
		}
		if d.err == nil {
			d.err = errors.New("unknown common string")
		}
	default:
		if d.err == nil {
			d.err = fmt.Errorf("unknown string kind %d", kind)
		}
	}
	return ""
}

func (d *decoder) claims() map[string]any {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n-1 > uint64(len(d.b)) {
		d.err = errors.New("bad claim count")
		return nil
	}
	claims := make(map[string]any, n-1)
	for range n - 1 {
		name := d.packed()
		switch kind := d.kind(); kind {
		case 's':
			claims[name] = d.string()
		case 'j':
			var v any
			if j := d.string(); d.err == nil {
				if err := json.Unmarshal([]byte(j), &v); err != nil {
					d.err = fmt.Errorf("claim %s: %w", name, err)
				}
			}
			claims[name] = v
		default:
			if d.err == nil {
				d.err = fmt.Errorf("claim %s: unknown value kind %d", name, kind)
			}
		}
		if d.err != nil {
			return nil
		}
	}
	return claims
}

func (d *decoder) time(ref time.Time) time.Time {
	if d.err != nil {
		return time.Time{}
	}
	kind := d.kind()
	var t time.Time
	switch kind {
	case timeZero:
		return time.Time{}
	case timeUTC, timeOffset:
		sec, nsec := d.varint(), d.uvarint()
		if nsec >= 1e9 {
			d.err = errors.New("bad nanoseconds")
		}
		t = time.Unix(sec, int64(nsec))
	case timeUTCDelta, timeOffsetDelta:
		t = ref.Add(time.Duration(d.varint()))
	default:
		d.err = fmt.Errorf("unknown time kind %d", kind)
		return time.Time{}
	}
	if kind == timeOffset || kind == timeOffsetDelta {
		return t.In(time.FixedZone("", int(d.varint())))
	}
	return t.UTC()
}
