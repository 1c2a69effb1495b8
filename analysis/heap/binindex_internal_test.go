package heap

import "testing"

// TestBinIndex: glibc's bin_index on x86-64 (malloc.c: smallbin_index,
// largebin_index_64): a chunk size's bin, at each range's first and last
// size, from glibc's own table of ranges (64 small bins of 16 bytes, then
// 32 bins of 64 bytes, 16 of 512, 8 of 4096, 4 of 32768, 2 of 262144, 1
// for the rest).
func TestBinIndex(t *testing.T) {
	h := &Heap{l: &layout{align: 16}}
	for sz, want := range map[uint64]int{
		0x20: 2, 0x3f0: 63, // small bins: size / 16
		0x400: 64, 0xbf0: 95, 0xc00: 96, 0xc3f: 96, // 64-byte spacing up to 48*64+63
		0xc40: 97, 0x29ff: 111, // 512-byte spacing: 91 + size>>9, to 20*512+511
		0x2a00: 112, 0xafff: 120, // 4096: 110 + size>>12, to 10*4096+4095
		0xb000: 120, 0x27fff: 123, // 32768: 119 + size>>15, to 4*32768+32767
		0x28000: 124, 0xbffff: 126, // 262144: 124 + size>>18, to 2*262144+262143
		0xc0000: 126, 1 << 40: 126,
	} {
		if got := h.binIndex(sz); got != want {
			t.Errorf("binIndex(%#x) = %d, want %d", sz, got, want)
		}
	}
}
