package die

import (
	"bytes"
	"encoding/binary"
)

// cursor reads little-endian values; past the end it reads zeros and
// sets bad.
type cursor struct {
	b   []byte
	i   uint64
	bad bool
}

func (c *cursor) need(n uint64) bool {
	if c.bad || n > uint64(len(c.b)) || c.i > uint64(len(c.b))-n {
		c.bad = true
		return false
	}
	return true
}

func (c *cursor) u8() uint8 {
	if !c.need(1) {
		return 0
	}
	v := c.b[c.i]
	c.i++
	return v
}

func (c *cursor) u16() uint16 {
	if !c.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(c.b[c.i:])
	c.i += 2
	return v
}

func (c *cursor) u24() uint32 {
	if !c.need(3) {
		return 0
	}
	v := uint32(c.b[c.i]) | uint32(c.b[c.i+1])<<8 | uint32(c.b[c.i+2])<<16
	c.i += 3
	return v
}

func (c *cursor) u32() uint32 {
	if !c.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(c.b[c.i:])
	c.i += 4
	return v
}

func (c *cursor) u64() uint64 {
	if !c.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(c.b[c.i:])
	c.i += 8
	return v
}

func (c *cursor) addr(size uint8) uint64 {
	switch size {
	case 1:
		return uint64(c.u8())
	case 2:
		return uint64(c.u16())
	case 4:
		return uint64(c.u32())
	case 8:
		return c.u64()
	}
	c.bad = true
	return 0
}

func (c *cursor) offset(is64 bool) uint64 {
	if is64 {
		return c.u64()
	}
	return uint64(c.u32())
}

// index reads the operand of the strx and addrx forms.
func (c *cursor) index(form uint64) uint64 {
	switch form {
	case formStrx1, formAddrx1:
		return uint64(c.u8())
	case formStrx2, formAddrx2:
		return uint64(c.u16())
	case formStrx3, formAddrx3:
		return uint64(c.u24())
	case formStrx4, formAddrx4:
		return uint64(c.u32())
	}
	return c.uleb() // strx, addrx and the GNU index forms

}

func (c *cursor) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if !c.need(1) {
			return 0
		}
		b := c.b[c.i]
		c.i++
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return v
		}
	}
}

func (c *cursor) sleb() int64 {
	var v int64
	var shift uint
	for {
		if !c.need(1) {
			return 0
		}
		b := c.b[c.i]
		c.i++
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

func (c *cursor) bytes(n uint64) []byte {
	if !c.need(n) {
		return nil
	}
	b := c.b[c.i : c.i+n : c.i+n]
	c.i += n
	return b
}

// cstr reads a NUL-terminated string (without the NUL).
func (c *cursor) cstr() []byte {
	if c.bad {
		return nil
	}
	s, ok := cstrAt(c.b, c.i)
	if !ok {
		c.bad = true
		return nil
	}
	c.i += uint64(len(s)) + 1
	return s
}

func cstrAt(sec []byte, off uint64) ([]byte, bool) {
	if off >= uint64(len(sec)) {
		return nil, false
	}
	rest := sec[off:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return nil, false
	}
	return rest[:i:i], true
}
