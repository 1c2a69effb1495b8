// Package mmap maps whole files read-only: a core while its headers and
// notes are parsed, the files behind its undumped pages, and debug sections
// are read in place, never copied and never written.
package mmap

import (
	"fmt"
	"os"
	"syscall"
)

// File maps a regular, non-empty file read-only (shared: pages come from
// the page cache and count toward RSS only when touched). Release it with
// syscall.Munmap.
func File(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Fd(f)
}

// Fd maps the whole of an open regular, non-empty file read-only (shared).
// The mapping outlives f; release it with syscall.Munmap.
func Fd(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, fmt.Errorf("%s: not a mappable file", f.Name())
	}
	return syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
}
