package values_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/values"
)

// TestEvalBounds: an expression nested past the bound, or longer than the
// length limit, is an error saying which; one within the bounds is
// evaluated. 1.5 million nested parentheses (the message that killed the
// DAP server with a stack overflow) are refused before any parsing.
func TestEvalBounds(t *testing.T) {
	r := values.NewReader(&coreparse.Process{})
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "7" + strings.Repeat(close, n)
	}
	for _, c := range []struct {
		name, expr, err string
	}{
		{"parentheses at the bound", nest("(", ")", values.DefaultMaxExprDepth-1), ""},
		{"parentheses past the bound", nest("(", ")", values.DefaultMaxExprDepth), "nested deeper than 256 levels"},
		{"unary minus past the bound", nest("-", "", values.DefaultMaxExprDepth), "nested deeper than 256 levels"},
		{"negations past the bound", nest("!~", "", values.DefaultMaxExprDepth/2), "nested deeper than 256 levels"},
		{"sizeof past the bound", nest("sizeof(", ")", values.DefaultMaxExprDepth), "nested deeper than 256 levels"},
		{"length just at the limit", "1" + strings.Repeat(" ", values.DefaultMaxExprLen-1), ""},
		{"length past the limit", "1" + strings.Repeat(" ", values.DefaultMaxExprLen), "8193 bytes long: the limit is 8192"},
		{"1.5 million parentheses", nest("(", ")", 1500000), "3000001 bytes long: the limit is 8192"},
	} {
		v, err := r.Eval(nil, c.expr)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err == "" && (v == nil || num(v) != 7 && num(v) != 1):
			t.Errorf("%s: %+v", c.name, v)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
	// The bounds are the reader's to set.
	r.MaxExprDepth, r.MaxExprLen = 3, 10
	if _, err := r.Eval(nil, "(((1)))"); err == nil || !strings.Contains(err.Error(), "deeper than 3") {
		t.Errorf("MaxExprDepth 3: %v", err)
	}
	if _, err := r.Eval(nil, "1+2+3+4+5+6"); err == nil || !strings.Contains(err.Error(), "limit is 10") {
		t.Errorf("MaxExprLen 10: %v", err)
	}
	if v, err := r.Eval(nil, "((1))+2*3"); err != nil || num(v) != 7 {
		t.Errorf("((1))+2*3 = %v, %v", v, err)
	}
}

// num is a computed value (a long, with no program's DWARF to type it).
func num(v *values.Value) uint64 {
	if v == nil || len(v.Bytes) < 8 {
		return 1 << 63
	}
	return binary.LittleEndian.Uint64(v.Bytes)
}
