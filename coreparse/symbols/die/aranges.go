package die

import "fmt"

// ParseAranges reads .debug_aranges: for each unit offset, the address
// ranges the producer listed for it, [low, high) pairs with empty ones
// left out. A set that does not parse ends the read with an error (the
// sets before it are returned).
func ParseAranges(b []byte) (map[uint64][][2]uint64, error) {
	out := map[uint64][][2]uint64{}
	for off := uint64(0); off < uint64(len(b)); {
		c := cursor{b: b, i: off}
		n := uint64(c.u32())
		is64 := false
		if n == 0xffffffff {
			n, is64 = c.u64(), true
		}
		start := c.i
		end := start + n
		if c.bad || n < 4 || end > uint64(len(b)) || end < start {
			return out, fmt.Errorf(".debug_aranges: set at %#x: bad length", off)
		}
		c.b = b[:end]
		vers := c.u16()
		unit := c.offset(is64)
		asize, ssize := c.u8(), c.u8()
		if c.bad || vers != 2 || (asize != 4 && asize != 8) || ssize != 0 {
			return out, fmt.Errorf(".debug_aranges: set at %#x: version %d, address size %d, segment size %d", off, vers, asize, ssize)
		}
		// Tuples start at a multiple of twice the address size from the
		// set's start.
		if r := (c.i - off) % uint64(2*asize); r != 0 {
			c.i += uint64(2*asize) - r
		}
		for c.i+uint64(2*asize) <= end {
			lo, l := c.addr(asize), c.addr(asize)
			if lo == 0 && l == 0 {
				break
			}
			if l > 0 && lo+l > lo {
				out[unit] = append(out[unit], [2]uint64{lo, lo + l})
			}
		}
		off = end
	}
	return out, nil
}
