package identity

import (
	"bytes"
	"strings"
)

// GuessFormat tells, from its outside only, which credential format a presentation looks
// like: JSON-LD (ldp, or bbs when it mentions a BBS+ proof), a compact JWT, or an SD-JWT; ""
// when it looks like none. It parses nothing and proves nothing: it labels measurements of
// presentations that were refused before their format was established, and must never be
// used to decide anything (Verify establishes the format, in Result.Format).
func GuessFormat(raw []byte) Format {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return ""
	}
	switch trimmed[0] {
	case '{':
		if bytes.Contains(trimmed, []byte("BbsBlsSignatureProof2020")) {
			return FormatBBS
		}
		return FormatLDP
	case '"':
		trimmed = bytes.Trim(trimmed, `"`)
	}
	token := string(trimmed)
	switch {
	case strings.Contains(token, "~"):
		return FormatSDJWT
	case strings.Count(token, ".") == 2:
		return FormatJWT
	}
	return ""
}
