package redisstore

import (
	"strconv"
	"strings"

	"github.com/hearro/trustbroker/broker"
)

// keys builds the names of the broker's keys (see the package comment). All of them share the
// hash tag {b}, so that scripts can touch any of them atomically in a Cluster.
type keys struct {
	prefix string // without the trailing ":"
	b      string // prefix + ":{b}:"
}

func newKeys(prefix string) keys {
	return keys{prefix: prefix, b: prefix + ":{b}:"}
}

func (k keys) session(id string) string        { return k.b + "s:" + id }
func (k keys) invitation(id string) string     { return k.b + "si:" + id }
func (k keys) thread(id string) string         { return k.b + "st:" + id }
func (k keys) identityPrefix() string          { return k.b + "i:" }
func (k keys) sessionPrefix() string           { return k.b + "s:" }
func (k keys) identity(id string) string       { return k.b + "i:" + id }
func (k keys) flex(flexIdentity string) string { return k.b + "if:" + flexIdentity }
func (k keys) identityIDs() string             { return k.b + "ids" }
func (k keys) byIssuer(did string) string      { return k.b + "ix:i:" + did }
func (k keys) byType(t string) string          { return k.b + "ix:t:" + t }
func (k keys) secret(name string) string       { return k.b + "secret:" + name }

// The outbox (see outbox.go): queued deliveries, their due index, dead letters and their index,
// and the subject sets (the IDs of the deliveries, queued or dead, about one identity). The
// record and subject-set prefixes end in ":", which the index names ("ob:due", "ob:dead") do
// not have, so no delivery ID or subject names an index.
func (k keys) outboxPrefix() string                { return k.b + "ob:q:" }
func (k keys) outbox(id string) string             { return k.b + "ob:q:" + id }
func (k keys) outboxDue() string                   { return k.b + "ob:due" }
func (k keys) deadLetterPrefix() string            { return k.b + "ob:x:" }
func (k keys) deadLetter(id string) string         { return k.b + "ob:x:" + id }
func (k keys) deadLetters() string                 { return k.b + "ob:dead" }
func (k keys) outboxSubjectPrefix() string         { return k.b + "ob:s:" }
func (k keys) outboxSubject(subject string) string { return k.b + "ob:s:" + subject }

// byClaim is the index of one claim name and text value; the name's length keeps any name
// apart from any value.
func (k keys) byClaim(name, text string) string {
	return k.b + "ix:c:" + strconv.Itoa(len(name)) + ":" + name + text
}

// identityIndexes returns the sorted sets an identity's ID is a member of, besides the set of
// all IDs: its issuer, its credential type and each claim's text value (broker.ClaimText). An
// empty issuer or type is not indexed (a filter never asks for it); every claim is, since a
// filter may ask for the empty text of a structured claim.
func (k keys) identityIndexes(ident *broker.Identity) []string {
	out := make([]string, 0, 2+len(ident.Claims))
	if ident.IssuerDID != "" {
		out = append(out, k.byIssuer(ident.IssuerDID))
	}
	if ident.CredentialType != "" {
		out = append(out, k.byType(ident.CredentialType))
	}
	for name, v := range ident.Claims {
		out = append(out, k.byClaim(name, broker.ClaimText(v)))
	}
	return out
}

// filterIndexes returns the sorted sets whose intersection holds the candidates of f (every
// identity matching f is in all of them); with no indexed criterion, the set of all IDs.
func (k keys) filterIndexes(f broker.IdentityFilter) []string {
	var out []string
	if f.Issuer != "" {
		out = append(out, k.byIssuer(f.Issuer))
	}
	if f.CredentialType != "" {
		out = append(out, k.byType(f.CredentialType))
	}
	for name, text := range f.Claims {
		out = append(out, k.byClaim(name, text))
	}
	if len(out) == 0 {
		out = append(out, k.identityIDs())
	}
	return out
}

// escapeTag makes s safe inside a hash tag: '%', '{', '}' and '/' (the shard separator)
// become %XX, so no store name can end a tag early or look like another store's shard.
func escapeTag(s string) string {
	if !strings.ContainsAny(s, "%{}/") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%', '{', '}', '/':
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c), 16)))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
