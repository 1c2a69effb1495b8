package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Examine is gdb's `x/NFU ADDR` parsed: count, format and unit size.
type Examine struct {
	Count  int
	Format byte // x, d, u, c
	Size   int  // 1, 2, 4, 8
}

// ParseExamine reads the NFU of `x/NFU ADDR` and returns it with the
// address expression. As in gdb, a format or unit left out is the last
// one used (last; zero in a fresh session: hex words), and c without a
// unit reads bytes.
func ParseExamine(line string, last Examine) (Examine, string, error) {
	spec, expr, _ := strings.Cut(strings.TrimPrefix(line, "x/"), " ")
	e := Examine{Count: 1, Format: last.Format}
	if e.Format == 0 {
		e.Format = 'x'
	}
	i := 0
	for i < len(spec) && spec[i] >= '0' && spec[i] <= '9' {
		i++
	}
	if i > 0 {
		n, err := strconv.Atoi(spec[:i])
		if err != nil {
			return e, "", fmt.Errorf("bad count %q", spec[:i])
		}
		e.Count = n
	}
	format := false
	for _, c := range []byte(spec[i:]) {
		switch c {
		case 'b':
			e.Size = 1
		case 'h':
			e.Size = 2
		case 'w':
			e.Size = 4
		case 'g':
			e.Size = 8
		case 'x', 'd', 'u', 'c':
			e.Format, format = c, true
		default:
			return e, "", fmt.Errorf("x/: format letter %q is not one of x, d, u, c (units b, h, w, g)", c)
		}
	}
	if e.Size == 0 {
		switch {
		case e.Format == 'c' && format:
			e.Size = 1
		case last.Size != 0:
			e.Size = last.Size
		default:
			e.Size = 4
		}
	}
	e.Count = min(max(e.Count, 1), 4096)
	return e, strings.TrimSpace(expr), nil
}

// WriteExamine prints memory as gdb's x command does: per line the
// address (with <symbol+offset> when label names it), a tab, then the
// units separated by tabs, 2 giant words, 4 words or 8 smaller units a
// line; hex zero-padded to the unit's width (0x0000000000001000 for g),
// c as `104 'h'`. data holds the bytes read from addr: where it ends
// before the units asked for, gdb's "Cannot access memory" ends the
// listing.
func WriteExamine(w io.Writer, e Examine, addr uint64, data []byte, label func(uint64) string) {
	perLine := 8
	switch e.Size {
	case 8:
		perLine = 2
	case 4:
		perLine = 4
	}
	var b strings.Builder
	for j := 0; j < e.Count; j++ {
		a := addr + uint64(j*e.Size)
		if j%perLine == 0 {
			if j > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("0x" + strconv.FormatUint(a, 16))
			if label != nil {
				if l := label(a); l != "" {
					b.WriteString(" <" + l + ">")
				}
			}
			b.WriteByte(':')
		}
		if (j+1)*e.Size > len(data) {
			fmt.Fprintf(&b, "\tCannot access memory at address %#x", a)
			break
		}
		var x uint64
		for q := e.Size - 1; q >= 0; q-- {
			x = x<<8 | uint64(data[j*e.Size+q])
		}
		switch e.Format {
		case 'd':
			sh := uint(64 - 8*e.Size)
			fmt.Fprintf(&b, "\t%d", int64(x<<sh)>>sh)
		case 'u':
			fmt.Fprintf(&b, "\t%d", x)
		case 'c':
			c := int64(int8(byte(x)))
			fmt.Fprintf(&b, "\t%d %s", c, gdbChar(byte(x)))
		default:
			fmt.Fprintf(&b, "\t0x%0*x", 2*e.Size, x)
		}
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// gdbChar is a char as gdb quotes it: 'h', '\n', '\000', '\377'.
func gdbChar(c byte) string {
	switch c {
	case '\a':
		return `'\a'`
	case '\b':
		return `'\b'`
	case '\f':
		return `'\f'`
	case '\n':
		return `'\n'`
	case '\r':
		return `'\r'`
	case '\t':
		return `'\t'`
	case '\v':
		return `'\v'`
	case 033:
		return `'\033'`
	case '\'':
		return `'\''`
	case '\\':
		return `'\\'`
	}
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf(`'\%03o'`, c)
}
