package symbols

import (
	"bytes"
	"strings"
	"testing"
)

// TestReaderContains: a needle is found wherever it lies against the
// chunks ReaderContains reads, across two of them included, and only
// whole: its prefix at a chunk's end and the rest nowhere is not a hit.
func TestReaderContains(t *testing.T) {
	defer func(n int) { readerChunk = n }(readerChunk)
	readerChunk = 16
	needle := []byte("\x00swapcontext\x00")
	other := [][]byte{[]byte("jump_fcontext\x00")}
	for at := 0; at < 70; at++ {
		text := []byte(strings.Repeat("x", at) + string(needle) + strings.Repeat("y", 40))
		got, err := ReaderContains(bytes.NewReader(text), append([][]byte{needle}, other...))
		if err != nil || !got {
			t.Fatalf("needle at %d: %v, %v; want found", at, got, err)
		}
		cut := text[:at+len(needle)-1] // the needle without its last byte
		if got, err := ReaderContains(bytes.NewReader(cut), [][]byte{needle}); err != nil || got {
			t.Fatalf("needle cut at %d: %v, %v; want not found", at, got, err)
		}
	}
	if got, _ := ReaderContains(bytes.NewReader(nil), [][]byte{needle}); got {
		t.Fatal("empty input: found")
	}
}
