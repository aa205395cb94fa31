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
func (k keys) erasure(key string) string       { return k.b + "er:" + key }

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

// index names one identity index (see luaIndex in scripts.go): the base key of its sorted
// sets, the prefix of its members (each member is the prefix, then an identity ID) and, for a
// claim index, the key an earlier version kept it under (legacy), which is used while it
// exists.
type index struct {
	key, prefix, legacy string
}

// args appends the index's script arguments: its member prefix and legacy key.
func (ix index) args(a []any) []any { return append(a, ix.prefix, ix.legacy) }

// appendWrites appends to a write script's keys and arguments those of the indexes it
// changes, then those of the deliveries it queues (see outboxArgs).
func appendWrites(keys []string, args []any, indexes []index, outboxKeys []string, outboxArgs []any) ([]string, []any) {
	for _, ix := range indexes {
		keys = append(keys, ix.key)
		args = ix.args(args)
	}
	return append(keys, outboxKeys...), append(args, outboxArgs...)
}

// byClaim is the index of one claim name and text value: in the claim's set, the members that
// start with the value's length and the value. The legacy key is the sorted set earlier
// versions kept; the name's length there keeps any name apart from any value.
func (k keys) byClaim(name, text string) index {
	n := strconv.Itoa(len(name)) + ":" + name
	return index{
		key:    k.b + "ixc:" + n,
		prefix: strconv.Itoa(len(text)) + ":" + text,
		legacy: k.b + "ix:c:" + n + text,
	}
}

// identityIndexes returns the indexes an identity's ID is a member of, besides the index of all
// IDs: its issuer, its credential type and each claim's text value (broker.ClaimText). An
// empty issuer or type is not indexed (a filter never asks for it); every claim is, since a
// filter may ask for the empty text of a structured claim.
func (k keys) identityIndexes(ident *broker.Identity) []index {
	out := make([]index, 0, 2+len(ident.Claims))
	if ident.IssuerDID != "" {
		out = append(out, index{key: k.byIssuer(ident.IssuerDID)})
	}
	if ident.CredentialType != "" {
		out = append(out, index{key: k.byType(ident.CredentialType)})
	}
	for name, v := range ident.Claims {
		out = append(out, k.byClaim(name, broker.ClaimText(v)))
	}
	return out
}

// filterIndexes returns the indexes whose intersection holds the candidates of f (every
// identity matching f is in all of them); with no indexed criterion, the index of all IDs.
func (k keys) filterIndexes(f broker.IdentityFilter) []index {
	var out []index
	if f.Issuer != "" {
		out = append(out, index{key: k.byIssuer(f.Issuer)})
	}
	if f.CredentialType != "" {
		out = append(out, index{key: k.byType(f.CredentialType)})
	}
	for name, text := range f.Claims {
		out = append(out, k.byClaim(name, text))
	}
	if len(out) == 0 {
		out = append(out, index{key: k.identityIDs()})
	}
	return out
}

// indexChanges returns the indexes of old that new is not in (to leave) and those of new that
// old is not in (to join); an index both are in needs no write.
func indexChanges(old, new []index) (leave, join []index) {
	in := func(list []index, ix index) bool {
		for _, o := range list {
			if o.key == ix.key && o.prefix == ix.prefix {
				return true
			}
		}
		return false
	}
	for _, ix := range old {
		if !in(new, ix) {
			leave = append(leave, ix)
		}
	}
	for _, ix := range new {
		if !in(old, ix) {
			join = append(join, ix)
		}
	}
	return leave, join
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
