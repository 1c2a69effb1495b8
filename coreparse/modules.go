package coreparse

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/internal/par"
	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// Module is one ELF object mapped into the crashed process: the executable or
// a shared library.
type Module struct {
	Name      string // path as the crashed process saw it (NT_FILE / link_map)
	Path      string // the local file used for symbols, "" when none was found
	DebugPath string // separate debug file, "" when none
	Start     uint64 // lowest mapped address
	End       uint64 // end of the highest mapping
	Bias      uint64 // load bias: runtime address = file address + Bias

	CoreBuildID     []byte // read from the core's own memory (the dumped first page)
	FileBuildID     []byte // read from the local file
	BuildIDMismatch bool   // both known and different: symbols would lie
	IsExe           bool
	// LinkName is the dynamic linker's name for it (link_map's l_name,
	// which dladdr reports: "/lib/x86_64-linux-gnu/libc.so.6" where NT_FILE
	// has the resolved "/usr/lib/…"); "" for the executable and when the
	// link map does not list it.
	LinkName string

	Syms *symbols.Table // nil when no local file was found or it failed to load
	// DebugRejected are the separate debug files found but not used, one
	// line each as gdb warns: "the debug information found in "F" does
	// not match "B" (CRC mismatch)".
	DebugRejected []string

	cfiOnce par.Once
	cfi     frame.FrameDescriptionEntries
	cfiErr  error

	ehOnce  par.Once
	eh      *unwind.EHFrameIndex // nil: no usable .eh_frame_hdr, the whole CFI is parsed
	ehImage []byte               // the mapped file behind eh

	dynOnce par.Once
	dyn     *dynTable
	bssEnd  uint64 // end of the highest PT_LOAD's memory, page-rounded
}

// BuildID returns the build-id as lower-case hex, preferring the core's copy.
func (m *Module) BuildID() string {
	if len(m.CoreBuildID) > 0 {
		return hex.EncodeToString(m.CoreBuildID)
	}
	return hex.EncodeToString(m.FileBuildID)
}

// Problem says what is wrong with the module's file, in the words every
// face uses ("" when it was found and is the core's build): no local file
// found, or another build's (BUILD-ID MISMATCH). Each face adds its own
// remedy (the command line's options, the DAP's launch arguments).
func (m *Module) Problem() string {
	switch {
	case m.Path == "":
		return fmt.Sprintf("%s: no local file found (build-id %s)", m.Name, m.BuildID())
	case m.BuildIDMismatch:
		return fmt.Sprintf("BUILD-ID MISMATCH: %s: the core has %x but %s has %x; symbols and stacks for it are unreliable",
			m.Name, m.CoreBuildID, m.Path, m.FileBuildID)
	}
	return ""
}

// Contains reports whether a runtime address lies in the module's mappings.
func (m *Module) Contains(addr uint64) bool { return addr >= m.Start && addr < m.End }

// Base name of the module, as shown in frames.
func (m *Module) BaseName() string { return filepath.Base(m.Name) }

// systemLibraries are the base-name prefixes of the libraries that are the
// platform, not the application: the C library and dynamic linker, the C++
// runtime, libgcc, libm, the vDSO, Boost.Context's fcontext routines.
// Frames in them are skipped where "the application's frame" is meant (a
// thread's or task's top frame, a crash signature, a holder's call path).
var systemLibraries = []string{"libc.so", "libc-", "ld-linux", "ld-2.", "libpthread", "libstdc++", "libgcc_s",
	"libm.so", "libm-", "linux-vdso", "libdl", "librt", "libboost_context"}

// IsSystemLibrary says whether a module path (or base name) is one of the
// platform's libraries rather than the application's.
func IsSystemLibrary(name string) bool {
	base := filepath.Base(name)
	for _, p := range systemLibraries {
		if strings.HasPrefix(base, p) {
			return true
		}
	}
	return false
}

// IsSystem says whether the module is a platform library (IsSystemLibrary).
func (m *Module) IsSystem() bool { return m != nil && IsSystemLibrary(m.Name) }

// CFI returns the module's call frame information in runtime addresses,
// loading it on first use.
func (m *Module) CFI() (frame.FrameDescriptionEntries, error) {
	m.cfiOnce.Do(func() {
		if m.Path == "" {
			m.cfiErr = fmt.Errorf("%s: no local file, no CFI", m.Name)
			return
		}
		f, err := elf.Open(m.Path)
		if err != nil {
			m.cfiErr = err
			return
		}
		defer f.Close()
		m.cfi, m.cfiErr = unwind.LoadCFI(f, m.Bias)
		// The separate debug file's .debug_frame describes what the file
		// may not (a program built -g -fno-asynchronous-unwind-tables and
		// split: the crt's .eh_frame stays, the functions' CFI goes with
		// the debug sections). Code with CFI in neither file is what the
		// unwinder follows the frame-pointer chain through.
		if m.DebugPath != "" {
			if df, err := elf.Open(m.DebugPath); err == nil {
				more, derr := unwind.LoadCFI(df, m.Bias)
				df.Close()
				switch {
				case len(more) > 0:
					m.cfi, m.cfiErr = unwind.MergeCFI(m.cfi, more), nil
				case len(m.cfi) == 0:
					m.cfiErr = derr
				}
			}
		}
	})
	return m.cfi, m.cfiErr
}

// FDEForPC is the FDE covering pc: looked up in the file's .eh_frame_hdr
// table and parsed alone when the object has one, else (and for a pc the
// table does not cover: .debug_frame only functions) found in the whole
// CFI, parsed once.
func (m *Module) FDEForPC(pc uint64) (*frame.FrameDescriptionEntry, error) {
	m.ehOnce.Do(func() {
		if m.Path == "" {
			return
		}
		image, err := mmap.File(m.Path)
		if err != nil {
			return
		}
		// The section headers are the symbol table's file's when it is
		// this file (parsed once: ~2 % of a warm ceph-mon bt was parsing
		// them again here); the sections are read from the mapping.
		var f *elf.File
		if m.Syms != nil && m.Syms.Path == m.Path {
			f = m.Syms.ObjectFile()
		}
		if f == nil {
			f, err = elf.NewFile(bytes.NewReader(image))
		}
		if err == nil {
			m.eh, err = unwind.NewEHFrameIndex(f, image, m.Bias)
		}
		if err != nil {
			mmap.Unmap(image)
			return
		}
		m.ehImage = image
	})
	if m.eh != nil {
		fde, err := m.eh.FDEForPC(pc)
		if err == nil || !unwind.ErrNotIndexed(err) {
			return fde, err
		}
	}
	fdes, err := m.CFI()
	if err != nil {
		return nil, err
	}
	return fdes.FDEForPC(pc)
}

// changed says whether the file the module mapped for its CFI changed.
func (m *Module) changed() []string {
	// Asked while another goroutine may be mapping it (the DAP server's
	// prefetch unwinds as requests are answered): only a mapping made.
	if !m.ehOnce.Done() || m.ehImage == nil {
		return nil
	}
	if why := mmap.ChangedIn(m.ehImage); why != "" {
		return []string{m.Path + ": changed while being read (" + why + ")"}
	}
	return nil
}

// release unmaps what the module mapped for itself.
func (m *Module) release() {
	if m.ehImage != nil {
		mmap.Unmap(m.ehImage)
		m.ehImage, m.eh = nil, nil
	}
}

// fileFinder resolves a path seen in the core to a local file, in the order
// gdb uses: the explicit executable, the sysroot, the solib search path, the
// path itself.
type fileFinder struct {
	exe        string
	sysroot    string
	searchPath []string
	find       func(name string, buildID []byte, isExe bool) string
}

func (f *fileFinder) candidates(corePath string, isExe bool) []string {
	var out []string
	add := func(p string) {
		for _, q := range out {
			if q == p {
				return
			}
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	if isExe && f.exe != "" {
		add(f.exe)
	}
	if f.sysroot != "" {
		add(filepath.Join(f.sysroot, corePath))
	}
	for _, d := range f.searchPath {
		add(filepath.Join(d, filepath.Base(corePath)))
	}
	if f.sysroot == "" {
		add(corePath)
	}
	return out
}

// elfFiles opens each ELF file loadModules reads once: a module's file is
// read for its build-id, its debug link, whether it has DWARF, and becomes
// its symbol table's, from one opening (four before: ~0.3 ms a module,
// ~30 modules in a Ceph daemon). What no table took is closed by close.
type elfFiles map[string]*elfOpened

type elfOpened struct {
	f     *elf.File
	taken bool
}

// get is path's file, opened on first use; nil and the error when it
// cannot be. A failed open is not remembered: the file can appear
// meanwhile (debuginfod downloads a debug file to the very path of its
// cache that the debug-file search looked at and did not find).
func (e elfFiles) get(path string) (*elf.File, error) {
	if o, ok := e[path]; ok && !o.taken {
		return o.f, nil
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	e[path] = &elfOpened{f: f}
	return f, nil
}

// lend is get as symbols.FindDebugFileOpened takes it: the file stays
// open (the function it gives back does nothing).
func (e elfFiles) lend(path string) (*elf.File, func(), error) {
	f, err := e.get(path)
	return f, func() {}, err
}

// take is get for a symbol table, which then owns the file.
func (e elfFiles) take(path string) (*elf.File, error) {
	f, err := e.get(path)
	if err == nil {
		e[path].taken = true
	}
	return f, err
}

func (e elfFiles) close() {
	for path, o := range e {
		if o.f != nil && !o.taken {
			o.f.Close()
		}
		delete(e, path)
	}
}

// hasDWARF reports whether an ELF file carries its own debug information
// (a .debug_info section with contents, not a stripped one).
func (e elfFiles) hasDWARF(path string) bool {
	f, err := e.get(path)
	if err != nil {
		return false
	}
	s := f.Section(".debug_info")
	return s != nil && s.Type != elf.SHT_NOBITS && s.Size > 0
}

func (e elfFiles) buildID(path string) []byte {
	f, err := e.get(path)
	if err != nil {
		return nil
	}
	return symbols.BuildID(f)
}

// locateLocal picks the local file for a module among its candidates
// (locate, in two steps: locateLocal then, when it finds none,
// locateElsewhere): the first candidate whose build-id matches the
// core's, else the finder's, else the first candidate (flagged mismatch).
//
// locateLocal looks among the local candidates alone: true when one
// has the core's build-id (or the core has none), which it takes.
func (f *fileFinder) locateLocal(m *Module, files elfFiles) bool {
	for _, c := range f.candidates(m.Name, m.IsExe) {
		id := files.buildID(c)
		if len(m.CoreBuildID) == 0 || bytes.Equal(id, m.CoreBuildID) {
			m.Path, m.FileBuildID = c, id
			return true
		}
	}
	return false
}

// locateElsewhere is the rest of locate when locateLocal found nothing:
// the finder's file (a build-id index, debuginfod), else the first
// candidate, another build's.
func (f *fileFinder) locateElsewhere(m *Module, files elfFiles) {
	fileBuildID := files.buildID
	cands := f.candidates(m.Name, m.IsExe)
	if f.find != nil && len(m.CoreBuildID) > 0 {
		if c := f.find(m.Name, m.CoreBuildID, m.IsExe); c != "" {
			if id := fileBuildID(c); bytes.Equal(id, m.CoreBuildID) {
				m.Path, m.FileBuildID = c, id
				return
			}
		}
	}
	if len(cands) > 0 {
		m.Path = cands[0]
		m.FileBuildID = fileBuildID(cands[0])
		m.BuildIDMismatch = len(m.FileBuildID) > 0
	}
}

// loadModules finds every ELF object of the process, its bias, its build-id
// in the core and a local file for it.
func (p *Process) loadModules(o Options) {
	c := p.Core
	finder := &fileFinder{exe: o.Exe, sysroot: o.Sysroot, searchPath: o.SolibSearchPath, find: o.FindFile}
	atPhdr, _ := c.AuxvValue(uint64(3))  // AT_PHDR
	atEntry, _ := c.AuxvValue(uint64(9)) // AT_ENTRY
	for _, obj := range groupFileMappings(c.Files) {
		if !obj.hasBase {
			continue
		}
		img, err := readELFImage(c, obj.base)
		fromFile := ""
		if err != nil {
			// The header page is not in the core (a core cut short: ulimit,
			// a full disk): the module is known from NT_FILE alone, its
			// program headers from the local file, as gdb does.
			if img, fromFile = readELFImageFile(finder.candidates(obj.path, false), obj.base); img == nil {
				continue // a mapped data file, not an ELF object
			}
		}
		m := &Module{Name: obj.path, Start: obj.start, End: obj.end, Bias: img.bias, CoreBuildID: img.buildID}
		if fromFile != "" {
			p.warnf("%s: its ELF header is not in the core (%v): module from the core's file mappings (NT_FILE) and %s; its build-id cannot be checked", obj.path, err, fromFile)
		}
		// The last segment's .bss beyond its file pages is an anonymous
		// mapping after the file's: it is still the module's.
		for _, ph := range img.phdrs {
			if elf.ProgType(ph.Type) == elf.PT_LOAD {
				if e := (img.bias + ph.Vaddr + ph.Memsz + pageMask) &^ pageMask; e > m.End && e-m.End < 1<<30 {
					m.bssEnd = e
				}
			}
		}
		m.IsExe = (atEntry >= obj.start && atEntry < obj.end) || (atPhdr >= obj.start && atPhdr < obj.end)
		p.Modules = append(p.Modules, m)
		if m.IsExe {
			p.Exe = m
			p.exeImage = img
		}
	}
	sort.Slice(p.Modules, func(i, j int) bool { return p.Modules[i].Start < p.Modules[j].Start })
	for i, m := range p.Modules {
		if m.bssEnd > m.End && (i+1 == len(p.Modules) || m.bssEnd <= p.Modules[i+1].Start) {
			m.End = m.bssEnd
		}
	}

	// Cross-check the biases with the dynamic linker's own list.
	if p.exeImage != nil {
		lms, err := readLinkMap(c, p.exeImage)
		if err != nil {
			p.warnf("link_map: %v", err)
		}
		for i, lm := range lms {
			if i == 0 && p.Exe != nil {
				p.loadOrder = append(p.loadOrder, p.Exe) // the executable's entry has an empty name
			}
			if lm.name == "" {
				continue
			}
			// link_map names a library as the dynamic linker opened it
			// (libstdc++.so.6), the mappings by the file behind the link
			// (libstdc++.so.6.0.30): a name that matches no mapping is
			// matched by its load bias, and the module keeps the linker's
			// name.
			if m := p.linkMapModule(lm); m != nil {
				p.loadOrder = append(p.loadOrder, m)
				if m.LinkName == "" && !m.IsExe {
					m.LinkName = lm.name
				}
			}
			for _, m := range p.Modules {
				if (m.Name == lm.name || filepath.Base(m.Name) == filepath.Base(lm.name)) && m.Bias != lm.addr {
					p.warnf("%s: load bias %#x from the mappings disagrees with link_map's %#x; using link_map", m.Name, m.Bias, lm.addr)
					m.Bias = lm.addr
				}
			}
		}
	} else {
		p.warnf("executable not found among the core's file mappings (no AT_ENTRY mapping)")
	}

	// Where the files the modules' DWARF refers to (dwz's supplementary
	// files, split DWARF's .dwo and .dwp) are looked for.
	resolver := &symbols.Resolver{DebugDirs: o.DebugFileDirs, Sysroot: o.Sysroot, Cache: o.Cache, AnswerFirst: o.AnswerFirst}
	if o.FindDebugFile != nil {
		resolver.FindByID = o.FindDebugFile
	}
	// What is on this machine (each module's file by build-id, its debug
	// file) is looked for on all CPUs; what asks further (the finder:
	// a build-id index, debuginfod) in the modules' order, as before.
	files := make([]elfFiles, len(p.Modules))
	local := make([]bool, len(p.Modules))
	defer func() {
		for _, f := range files {
			f.close()
		}
	}()
	par.Do(len(p.Modules), func(i int) {
		m := p.Modules[i]
		files[i] = elfFiles{}
		if local[i] = finder.locateLocal(m, files[i]); local[i] {
			m.DebugPath, m.DebugRejected = symbols.FindDebugFileOpened(m.Path, m.FileBuildID, o.DebugFileDirs, files[i].lend)
		}
	})
	for i, m := range p.Modules {
		files := files[i]
		if !local[i] {
			finder.locateElsewhere(m, files)
		}
		switch {
		case m.Path == "":
			p.warnf("%s; use --solib-search-path/--sysroot/--exe", m.Problem())
			continue
		case m.BuildIDMismatch:
			p.warnf("%s", m.Problem())
		}
		if !local[i] {
			m.DebugPath, m.DebugRejected = symbols.FindDebugFileOpened(m.Path, m.FileBuildID, o.DebugFileDirs, files.lend)
		}
		if m.DebugPath == "" && o.FindDebugFile != nil && len(m.FileBuildID) > 0 && !files.hasDWARF(m.Path) {
			m.DebugPath = o.FindDebugFile(m.Name, m.FileBuildID)
		}
		var t *symbols.Table
		var err error
		if o.Tables != nil {
			t, err = o.Tables.OpenWith(m.Path, m.DebugPath, resolver)
		} else {
			t, err = symbols.OpenFiles(m.Path, m.DebugPath, resolver, files.take)
		}
		if err != nil {
			p.warnf("%s: symbols: %v", m.Path, err)
			continue
		}
		m.Syms = t
	}
}

// linkMapModule is the module a link_map entry describes: by name, else
// by load bias.
func (p *Process) linkMapModule(lm linkMapEntry) *Module {
	for _, m := range p.Modules {
		if m.Name == lm.name || filepath.Base(m.Name) == filepath.Base(lm.name) {
			return m
		}
	}
	if lm.addr == 0 {
		return nil
	}
	var found *Module
	for _, m := range p.Modules {
		if !m.IsExe && m.Bias == lm.addr {
			if found != nil {
				return nil // two modules at one bias: not a match
			}
			found = m
		}
	}
	return found
}

// ModuleAt returns the module whose mappings contain the runtime address.
func (p *Process) ModuleAt(addr uint64) *Module {
	i := sort.Search(len(p.Modules), func(i int) bool { return p.Modules[i].End > addr })
	if i < len(p.Modules) && p.Modules[i].Contains(addr) {
		return p.Modules[i]
	}
	return nil
}

// ModuleByName finds a module by its base name or full path.
func (p *Process) ModuleByName(name string) *Module {
	for _, m := range p.Modules {
		if m.Name == name || m.BaseName() == name || strings.HasPrefix(m.BaseName(), name+".") {
			return m
		}
	}
	return nil
}
