package coreparse

import (
	"encoding/binary"

	"github.com/dsecore/dsecore/coreparse/unwind"
)

// MaxFrameStack bounds the stack a frame is said to own: a frame whose CFA
// lies further above its rsp has registers that do not describe it.
const MaxFrameStack = 1 << 16

// StackWords reads a physical frame's own stack: the 8-byte words from its
// rsp up to its CFA. lo is the first word's address. A frame without its
// registers, or whose extent is empty or beyond MaxFrameStack, has none.
func (p *Process) StackWords(f Frame) (lo uint64, words []uint64) {
	if f.Raw == nil {
		return 0, nil
	}
	lo, ok := f.Raw.Regs.Get(unwind.RSP)
	hi := f.Raw.CFA
	if !ok || hi <= lo || hi-lo > MaxFrameStack {
		return 0, nil
	}
	buf := make([]byte, hi-lo)
	n, _ := p.Core.ReadAt(buf, lo)
	words = make([]uint64, 0, n/8)
	for off := 0; off+8 <= n; off += 8 {
		words = append(words, binary.LittleEndian.Uint64(buf[off:]))
	}
	return lo, words
}
