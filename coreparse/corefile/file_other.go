//go:build !linux

package corefile

import "os"

// coreFile is the core file as the page cache reads it: pread(2).
type coreFile struct{ *os.File }

func newCoreFile(f *os.File) coreFile { return coreFile{f} }
