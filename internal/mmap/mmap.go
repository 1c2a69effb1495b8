// Package mmap maps whole files read-only (debug sections and cache files
// read in place, never copied and never written) and makes what a mapping
// can do to the process an error instead of a crash.
//
// A mapped file that shrinks while it is mapped (a `cp` of a smaller build
// over a library, a truncated cache file) raises SIGBUS on the next read of
// a page past its new end, which kills a Go program. Every mapping made
// here is registered with its file's identity (device, inode, size,
// modification time), and:
//
//   - Guard, called first by every goroutine that reads mappings (the
//     main goroutine, internal/par's workers, a DAP connection's), turns
//     such a fault into a panic (runtime/debug.SetPanicOnFault);
//   - Catch (deferred at a read API's boundary: a command, a DAP request)
//     turns that panic into a *FaultError naming the file, the offset and
//     what changed; AsFault tells such a panic from any other, which
//     recovers that swallow panics (a CFI or DWARF decoder's) re-panic;
//   - Changed reports the mapped files that changed since they were
//     mapped (same size, other bytes: a file rewritten in place), for a
//     warning at the end of a command, and ChangedIn for one mapping.
package mmap

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// File maps a regular, non-empty file read-only (shared: pages come from
// the page cache and count toward RSS only when touched). Release it with
// Unmap.
func File(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Fd(f)
}

// Fd maps the whole of an open regular, non-empty file read-only (shared).
// The mapping outlives f; release it with Unmap.
func Fd(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, fmt.Errorf("%s: not a mappable file", f.Name())
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		if errors.Is(err, syscall.ENOMEM) {
			err = fmt.Errorf("%s: cannot map its %d bytes: out of address space (ulimit -v?)", f.Name(), st.Size())
			noteFailure(err.Error())
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	register(b, f.Name(), StampOf(st))
	return b, nil
}

// Unmap releases a mapping made by File or Fd: after LeaveToExit, it only
// forgets it.
func Unmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	unregister(b)
	if leave.Load() {
		return nil
	}
	return syscall.Munmap(b)
}

var leave atomic.Bool

// LeaveToExit makes Unmap (and LeftToExit's other callers) leave mappings
// to the process's exit, which takes down the whole address space at once:
// for a one-shot command on one core (dsecore bt), whose ~30 munmaps at
// close, each a TLB shootdown on every CPU the process ran on, were ~3 ms
// of a warm first answer. Never for a long-lived process (the DAP server)
// or one that opens core after core (summarize): their mappings would
// pile up.
func LeaveToExit() { leave.Store(true) }

// LeftToExit says whether LeaveToExit was called: a mapping made elsewhere
// (an anonymous one) is then left too.
func LeftToExit() bool { return leave.Load() }

var failures struct {
	sync.Mutex
	l []string
}

func noteFailure(line string) {
	failures.Lock()
	if len(failures.l) < 16 {
		failures.l = append(failures.l, line)
	}
	failures.Unlock()
}

// Failures are the mappings that could not be made for want of address
// space, one line each naming the file: what was answered without them
// is partial, and a face says so.
func Failures() []string {
	failures.Lock()
	defer failures.Unlock()
	return append([]string(nil), failures.l...)
}

// Stamp is what identifies a file's contents without reading them.
type Stamp struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // nanoseconds
}

// StampOf is the stamp of a file from its FileInfo.
func StampOf(st os.FileInfo) Stamp {
	s := Stamp{Size: st.Size(), Mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.Dev, s.Ino = uint64(sys.Dev), sys.Ino
		s.Ctime = sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
	}
	return s
}

// StampFile is the stamp of the file at path now.
func StampFile(path string) (Stamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Stamp{}, err
	}
	return StampOf(st), nil
}

// Differs says how now differs from the stamp s ("" when it does not):
// "it was replaced", "it is 10 bytes now, was 20", "it was modified".
func (s Stamp) Differs(now Stamp) string {
	switch {
	case s.Dev != now.Dev || s.Ino != now.Ino:
		return "it was replaced by another file"
	case s.Size != now.Size:
		return fmt.Sprintf("it is %d bytes now, was %d", now.Size, s.Size)
	case s.Mtime != now.Mtime || s.Ctime != now.Ctime:
		return "it was modified"
	}
	return ""
}

// region is one live mapping.
type region struct {
	start, end uintptr
	path       string
	stamp      Stamp
}

var reg struct {
	mu sync.Mutex
	rs []region // sorted by start
}

func register(b []byte, path string, st Stamp) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	r := region{start: start, end: start + uintptr(len(b)), path: path, stamp: st}
	reg.mu.Lock()
	i := sort.Search(len(reg.rs), func(i int) bool { return reg.rs[i].start >= start })
	reg.rs = append(reg.rs, region{})
	copy(reg.rs[i+1:], reg.rs[i:])
	reg.rs[i] = r
	reg.mu.Unlock()
}

func unregister(b []byte) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	reg.mu.Lock()
	defer reg.mu.Unlock()
	i := sort.Search(len(reg.rs), func(i int) bool { return reg.rs[i].start >= start })
	if i < len(reg.rs) && reg.rs[i].start == start {
		reg.rs = append(reg.rs[:i], reg.rs[i+1:]...)
	}
}

// lookup finds the live mapping holding addr.
func lookup(addr uintptr) (region, bool) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	i := sort.Search(len(reg.rs), func(i int) bool { return reg.rs[i].end > addr })
	if i < len(reg.rs) && addr >= reg.rs[i].start {
		return reg.rs[i], true
	}
	return region{}, false
}

// Guard makes a fault of the calling goroutine (a read of a mapped page
// its file no longer has) a panic that Catch and AsFault recognise,
// instead of the end of the process. It holds for the goroutine's life
// (goroutines it starts do not inherit it: each calls Guard itself).
func Guard() { debug.SetPanicOnFault(true) }

// FaultError is a read of a mapped file that faulted: the file changed
// (shrank, was replaced or truncated) while it was mapped.
type FaultError struct {
	Path   string
	Offset int64  // of the faulting read in the file
	Why    string // what changed, as Stamp.Differs says; "" when the file looks unchanged
}

func (e *FaultError) Error() string {
	why := e.Why
	if why == "" {
		why = "the file could not be read"
	}
	return fmt.Sprintf("%s: changed while being read (%s): read at offset %#x failed", e.Path, why, e.Offset)
}

// AsFault returns the *FaultError of a recovered panic value when it is a
// fault in a mapping made here (or already a *FaultError), else nil.
func AsFault(r any) *FaultError {
	switch x := r.(type) {
	case *FaultError:
		return x
	case error:
		var fe *FaultError
		if errors.As(x, &fe) {
			return fe
		}
	}
	re, ok := r.(runtime.Error)
	if !ok {
		return nil
	}
	a, ok := re.(interface{ Addr() uintptr })
	if !ok {
		return nil
	}
	rg, ok := lookup(a.Addr())
	if !ok {
		return nil
	}
	e := &FaultError{Path: rg.path, Offset: int64(a.Addr() - rg.start)}
	if now, err := StampFile(rg.path); err != nil {
		e.Why = err.Error()
	} else {
		e.Why = rg.stamp.Differs(now)
	}
	return e
}

// Catch, deferred, turns a fault in a mapping into *err (a *FaultError);
// any other panic goes on.
//
//	defer mmap.Catch(&err)
func Catch(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if fe := AsFault(r); fe != nil {
		*err = fe
		return
	}
	panic(r)
}

// Repanic re-raises r when it is a fault in a mapping: for recovers that
// turn a decoder's panic into a warning, which must not hide a file that
// changed under the reader.
func Repanic(r any) {
	if fe := AsFault(r); fe != nil {
		panic(fe)
	}
}

// Changed lists the mapped files (live mappings) that changed since they
// were mapped, one line each: "PATH: changed while being read (it is 10
// bytes now, was 20)".
func Changed() []string {
	reg.mu.Lock()
	rs := append([]region(nil), reg.rs...)
	reg.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if seen[r.path] {
			continue
		}
		seen[r.path] = true
		if why := changed(r); why != "" {
			out = append(out, r.path+": changed while being read ("+why+")")
		}
	}
	sort.Strings(out)
	return out
}

// ChangedIn says how the file of mapping b changed since it was mapped
// ("" when it did not, or b is not a mapping made here).
func ChangedIn(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	r, ok := lookup(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	if !ok {
		return ""
	}
	return changed(r)
}

// changed says how the mapped file changed. A path that now names another
// file (renamed over, removed) does not count: the mapping holds the file
// that was mapped, intact (a concurrent run renaming its cache file over
// this one's, a library replaced with mv).
// PathOf is the file of mapping b ("" when b is not a mapping made here).
func PathOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	r, _ := lookup(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	return r.path
}

func changed(r region) string {
	now, err := StampFile(r.path)
	if err != nil || now.Dev != r.stamp.Dev || now.Ino != r.stamp.Ino {
		return ""
	}
	return r.stamp.Differs(now)
}
