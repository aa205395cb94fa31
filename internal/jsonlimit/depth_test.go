package jsonlimit

import (
	"strings"
	"testing"
)

func TestTooDeep(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want bool
	}{
		{`{}`, 1, false},
		{`{"a":[1]}`, 1, true},
		{`{"a":[1]}`, 2, false},
		{`[[[]]]`, 2, true},
		{`{"a":"[[[[[["}`, 1, false},        // brackets inside a string do not count
		{`{"a":"\"[[[["}`, 1, false},        // nor after an escaped quote
		{`{"a":"\\"}`, 1, false},            // an escaped backslash ends its escape
		{`{"a":"\\"}[[`, 1, true},           // …so what follows the string counts
		{`[][][][]`, 1, false},              // siblings are not nesting
		{strings.Repeat("[", 65), 64, true}, // unclosed still counts
		{``, 0, false},
	} {
		if got := TooDeep([]byte(tc.in), tc.max); got != tc.want {
			t.Errorf("TooDeep(%q, %d) = %v, want %v", tc.in, tc.max, got, tc.want)
		}
	}
}
