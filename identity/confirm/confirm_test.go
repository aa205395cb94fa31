package confirm_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/identity/confirm"
)

func TestAlphabetHasNoLookalikes(t *testing.T) {
	if len(confirm.Alphabet) != 32 {
		t.Fatalf("alphabet has %d letters, want 32 (uniform draws from a byte)", len(confirm.Alphabet))
	}
	for _, c := range "0O1I" {
		if strings.ContainsRune(confirm.Alphabet, c) {
			t.Errorf("alphabet contains %q", c)
		}
	}
	seen := map[rune]bool{}
	for _, c := range confirm.Alphabet {
		if seen[c] {
			t.Errorf("alphabet repeats %q", c)
		}
		seen[c] = true
	}
}

// Codes are fresh: in 2,000 draws from 2^20 codes a few collisions are expected (about 2),
// dozens would mean a broken source; every letter turns up at every position.
func TestNewCodesDiffer(t *testing.T) {
	const n = 2000
	seen := map[string]bool{}
	dups := 0
	var letters [confirm.Length]map[byte]int
	for i := range letters {
		letters[i] = map[byte]int{}
	}
	for range n {
		c := confirm.New()
		if !confirm.Valid(c) {
			t.Fatalf("New() = %q, not a valid code", c)
		}
		if seen[c] {
			dups++
		}
		seen[c] = true
		for i := range confirm.Length {
			letters[i][c[i]]++
		}
	}
	if dups > 12 {
		t.Errorf("%d repeated codes in %d draws, want a handful at most", dups, n)
	}
	for i, m := range letters {
		if len(m) != len(confirm.Alphabet) {
			t.Errorf("position %d used %d of %d letters", i, len(m), len(confirm.Alphabet))
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"as shown", "K7QF", "K7QF"},
		{"typed in lower case with spaces", "  k7qf\n", "K7QF"},
		{"too short", "K7Q", ""},
		{"too long", "K7QFF", ""},
		{"ambiguous zero", "K0QF", ""},
		{"ambiguous letter O", "KOQF", ""},
		{"ambiguous one", "K1QF", ""},
		{"ambiguous letter I", "KIQF", ""},
		{"not ASCII", "K7Qé", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := confirm.Parse(tc.in)
			if tc.want == "" {
				if !errors.Is(err, confirm.ErrInvalid) {
					t.Fatalf("Parse(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFind(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"goal made by With", confirm.With("Prove who you are to talk to an agent", "K7QF"), "K7QF"},
		{"empty text made by With", confirm.With("", "K7QF"), "K7QF"},
		{"followed by punctuation", "x. Check that your screen shows K7QF.", "K7QF"},
		{"the last sentence counts", "Check that your screen shows AAAA — Check that your screen shows K7QF", "K7QF"},
		{"no code", "Prove who you are to talk to an agent", ""},
		{"code cut short", "Check that your screen shows K7Q", ""},
		{"code runs on", "Check that your screen shows K7QFX", ""},
		{"code runs on in lower case", "Check that your screen shows K7QFx", ""},
		{"lookalike letter", "Check that your screen shows K7QO", ""},
		{"lower case code", "Check that your screen shows k7qf", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := confirm.Find(tc.text)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("Find(%q) = %q, %v; want %q", tc.text, got, ok, tc.want)
			}
		})
	}
	if got := confirm.With("Goal", ""); got != "Goal" {
		t.Errorf(`With("Goal", "") = %q, want the goal unchanged`, got)
	}
}

// Find reads text from whoever made an invitation or request: it never panics, and what it
// finds is a valid code that Text would print the same way.
func FuzzFind(f *testing.F) {
	for _, s := range []string{"", "Check that your screen shows K7QF", "Check that your screen shows ", "Check that your screen shows K7Q\xff", "a — Check that your screen shows ZZZZ."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		code, ok := confirm.Find(text)
		if ok != (code != "") {
			t.Fatalf("Find(%q) = %q, %v", text, code, ok)
		}
		if ok && (!confirm.Valid(code) || !strings.Contains(text, confirm.Text(code))) {
			t.Fatalf("Find(%q) = %q, which the text does not carry as a valid code", text, code)
		}
	})
}

func ExampleFind() {
	goal := confirm.With("Prove who you are to talk to an agent", "K7QF")
	fmt.Println(goal)
	code, ok := confirm.Find(goal)
	fmt.Println(code, ok)
	// Output:
	// Prove who you are to talk to an agent — Check that your screen shows K7QF
	// K7QF true
}
