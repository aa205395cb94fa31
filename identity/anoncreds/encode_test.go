package anoncreds

import "testing"

func TestEncode(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"28", "28"},
		{"-5", "-5"},
		{"+7", "7"},
		{"007", "7"},
		{"-0", "0"},
		{"2147483647", "2147483647"},
		{"-2147483648", "-2147483648"},
		// Out of range or not a plain integer: SHA-256, big-endian.
		{"2147483648", "26221484005389514539852548961319751347124425277437769688639924217837557266135"},
		{"c", "21027550693477535543327579570081618952892630736730429980018215117041635618758"},
		{"Alex", "99262857098057710338306967609588410025648622308394250666849665532448612202874"},
		{"", "102987336249554097029535212322581322789799900648198034993379397001115665086549"},
		{" 7", Encode(" 7").String()},
		{"7.0", Encode("7.0").String()},
	} {
		if got := Encode(c.raw).String(); got != c.want {
			t.Errorf("Encode(%q) = %s, want %s", c.raw, got, c.want)
		}
	}
	// Strings other implementations read as integers are hashed here.
	for _, raw := range []string{" 7", "7 ", "1_000", "7.0", "0x10", "1e3", "+", "-", "٣"} {
		if v := Encode(raw); v.BitLen() <= 32 {
			t.Errorf("Encode(%q) = %v, want a hash", raw, v)
		}
	}
}
