package status_test

import (
	"testing"

	"github.com/hearro/trustbroker/identity/status"
)

// The all-zero 16 KiB (131,072-entry) list of the StatusList2021 and Bitstring Status List
// specifications' examples.
const specEmptyList = "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"

func TestDecodeSpecExample(t *testing.T) {
	for _, enc := range []string{specEmptyList, "u" + specEmptyList} {
		b, err := status.Decode(enc, 0)
		if err != nil {
			t.Fatal(err)
		}
		if b.Len(1) != 131072 {
			t.Fatalf("%d entries", b.Len(1))
		}
		if v, _ := b.Get(131071, 1); v != 0 {
			t.Fatal("the example list is all zero")
		}
	}
}

func TestBitOrder(t *testing.T) {
	b := status.New(16, 1)
	b.Set(0, 1, 1)
	b.Set(9, 1, 1)
	if b[0] != 0x80 || b[1] != 0x40 {
		t.Fatalf("bytes % x: index 0 is the most significant bit of the first byte", []byte(b))
	}
	enc, _ := status.Encode(b, true)
	got, err := status.Decode(enc, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]uint8{0: 1, 1: 0, 9: 1, 15: 0} {
		if v, _ := got.Get(i, 1); v != want {
			t.Fatalf("entry %d = %d", i, v)
		}
	}
	if _, err := got.Get(16, 1); err == nil {
		t.Fatal("index beyond the list")
	}
	two := status.New(4, 2)
	two.Set(1, 2, 3)
	if v, _ := two.Get(1, 2); v != 3 || two[0] != 0x30 {
		t.Fatalf("2-bit entry: % x", []byte(two))
	}
}

func TestDecodeRefusesBombs(t *testing.T) {
	big, _ := status.Encode(status.New(1<<24, 1), false)
	if _, err := status.Decode(big, 1<<16); err == nil {
		t.Fatal("a list larger than the limit was decoded")
	}
}
