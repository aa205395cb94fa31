// Package jsonlimit holds the checks made on untrusted JSON before it is decoded.
package jsonlimit

// TooDeep reports whether the arrays and objects of the JSON text b nest deeper than max. It
// reads b once, as bytes, skipping strings, and builds nothing, so it can run before a decoder
// that would recurse into every level. b need not be valid JSON: the decoder judges that.
func TooDeep(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}
