// Package cephcrash reads, from a core, what Ceph's own crash report (the
// `meta` file its fatal-signal handler writes into the crash directory, and
// `ceph crash post` files in the cluster) says about the crash: the
// daemon's identity and version from its memory and command line, a failed
// ceph_assert from Ceph's globals, and the backtrace as Ceph's BackTrace
// prints it (glibc's backtrace_symbols lines, demangled Ceph's way) from
// where Ceph's list starts. It also finds the daemon's own report of the
// same crash in a crash directory, and computes the stack signature the
// mgr's crash module gives a report (src/pybind/mgr/crash/module.py).
//
// Nothing is invented: a field the core (or a matching crash directory
// entry) does not hold is left out.
package cephcrash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/ianlancetaylor/demangle"
)

// Report is Ceph's crash report of a core, as far as the core holds it.
type Report struct {
	ProcessName string `json:"process_name,omitempty"`
	EntityName  string `json:"entity_name,omitempty"`
	EntityFrom  string `json:"entity_from,omitempty"` // the command-line options it came from
	CephVersion string `json:"ceph_version,omitempty"`
	// Backtrace is Ceph's list: from the signal trampoline of the crashed
	// thread's innermost signal frame (Ceph's BackTrace skips the handler),
	// else from frame 0.
	Backtrace     []string `json:"backtrace"`
	BacktraceFrom string   `json:"backtrace_from"`
	Assert        *Assert  `json:"assert,omitempty"`
	IOError       *IOError `json:"io_error,omitempty"`
	// StackSig is what the mgr's crash module computes for Backtrace and
	// the assertion message when the report is posted.
	StackSig string `json:"stack_sig,omitempty"`
	// Own is the daemon's own report of the same crash, found in a crash
	// directory; Host holds the fields only it has (utsname_*, os_*), in
	// Ceph's order.
	Own      *Own        `json:"own,omitempty"`
	Host     [][2]string `json:"host,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
}

// Assert is Ceph's record of a failed ceph_assert (ceph::global::g_assert_*).
type Assert struct {
	Condition  string `json:"condition,omitempty"`
	Func       string `json:"func,omitempty"`
	File       string `json:"file,omitempty"`
	Line       int    `json:"line,omitempty"`
	ThreadName string `json:"thread_name,omitempty"`
	Msg        string `json:"msg,omitempty"`
}

// IOError is Ceph's record of an EIO crash (ceph::global::g_eio*).
type IOError struct {
	Devname string `json:"devname,omitempty"`
	Path    string `json:"path,omitempty"`
	Code    int    `json:"code,omitempty"`
	Optype  int    `json:"optype,omitempty"`
	Offset  uint64 `json:"offset,omitempty"`
	Length  uint64 `json:"length,omitempty"`
}

// Own is a report the daemon wrote itself.
type Own struct {
	Path      string      `json:"path"`
	CrashID   string      `json:"crash_id"`
	Backtrace []string    `json:"backtrace"`
	StackSig  string      `json:"stack_sig"`
	Matched   string      `json:"matched"` // why it is this core's crash
	Fields    [][2]string `json:"-"`       // every string field, in the file's order
}

// Options of Collect.
type Options struct {
	// CrashDirs are Ceph crash directories (/var/lib/ceph/crash and its
	// posted/) or single entries of one, searched for the daemon's own
	// report of the core's crash.
	CrashDirs []string
}

// maxFrames: BackTrace's array holds 100 addresses, one is skipped.
const maxFrames = 99

// Collect reads the report's fields from the core.
func Collect(p *coreparse.Process, o Options) *Report {
	r := &Report{}
	r.ProcessName = cstringGlobal(p, "g_process_name", 256)
	if r.ProcessName == "" && p.Core.PSInfo != nil {
		r.ProcessName = p.Core.PSInfo.Fname
	}
	args, cut := p.Argv(), false
	if len(args) == 0 && p.Core.PSInfo != nil {
		// The command line's memory is not in the core (a truncated core
		// loses the stack it is on): the kernel's copy of its first 79
		// bytes.
		args, cut = strings.Fields(p.Core.PSInfo.Args), p.Core.PSInfo.ArgsCut
	}
	r.EntityName, r.EntityFrom = EntityNameCut(args, cut)
	r.CephVersion = version(p)
	r.Assert = readAssert(p)
	r.IOError = readEIO(p)
	r.Backtrace, r.BacktraceFrom = backtrace(p)
	msg := ""
	if r.Assert != nil {
		msg = r.Assert.Msg
	}
	var err error
	if r.StackSig, err = StackSig(r.Backtrace, msg); err != nil {
		r.Warnings = append(r.Warnings, err.Error())
	}
	if len(o.CrashDirs) > 0 {
		r.Own = findOwn(o.CrashDirs, r.Backtrace)
		if r.Own != nil {
			for _, f := range r.Own.Fields {
				if strings.HasPrefix(f[0], "utsname_") || strings.HasPrefix(f[0], "os_") {
					r.Host = append(r.Host, f)
				}
			}
		}
	}
	return r
}

// entityTypes: Ceph's daemons name their entity type after themselves
// (global_init with CEPH_ENTITY_TYPE_MON, …); any other program is a client.
var entityTypes = map[string]string{"ceph-mon": "mon", "ceph-osd": "osd", "ceph-mds": "mds", "ceph-mgr": "mgr"}

// EntityName is the name Ceph's global_init gives a process from its
// command line: -n/--name TYPE.ID as given, or -i/--id ID with the type
// of the program (argv[0]'s base name); a client without either is
// client.admin. "" when a daemon's id is not on the command line (it may
// come from CEPH_ARGS or a config file, which a core does not hold).
func EntityName(argv []string) (name, from string) { return EntityNameCut(argv, false) }

// EntityNameCut is EntityName of a command line that may be cut short
// (the core's NT_PRPSINFO copy, 79 bytes): its last word may be part of
// a longer one ("-i 6" of "-i 64"), and what came after it is unknown, so
// an entity name is given only from whole words, and a client without
// -n/--id in them is not called client.admin: the option may have been
// cut off.
func EntityNameCut(argv []string, cut bool) (name, from string) {
	if cut && len(argv) > 0 {
		argv = argv[:len(argv)-1]
	}
	if len(argv) == 0 {
		return "", ""
	}
	typ, daemon := entityTypes[filepath.Base(argv[0])]
	if !daemon {
		typ = "client"
	}
	id := ""
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		val := func(opts ...string) (string, bool) {
			for _, o := range opts {
				if a == o && i+1 < len(argv) {
					return argv[i+1], true
				}
				if strings.HasPrefix(o, "--") && strings.HasPrefix(a, o+"=") {
					return a[len(o)+1:], true
				}
			}
			return "", false
		}
		if v, ok := val("-n", "--name"); ok {
			name, from = v, a
		}
		if v, ok := val("-i", "--id", "--user"); ok {
			id, from = v, a
		}
		if a == "--" {
			break
		}
	}
	if name != "" {
		return name, "the command line's " + strings.SplitN(from, "=", 2)[0]
	}
	if id != "" {
		return typ + "." + id, fmt.Sprintf("the command line's %s and the program %s", strings.SplitN(from, "=", 2)[0], filepath.Base(argv[0]))
	}
	switch {
	case !daemon && !cut:
		return "client.admin", "the default name of a client (no -n/--id on the command line)"
	case cut:
		return "", "unknown: the core's copy of the command line (NT_PRPSINFO, 79 bytes) is cut short before any -n/--id, and its memory is not in the core"
	}
	return "", ""
}

// lookup finds one of Ceph's globals: in namespace ceph::global (its
// mangled name), else by its plain name.
func lookup(p *coreparse.Process, name string) (uint64, bool) {
	for _, n := range []string{fmt.Sprintf("_ZN4ceph6global%d%sE", len(name), name), name} {
		if m, s, ok := p.LookupSymbol(n); ok {
			return s.Value + m.Bias, true
		}
	}
	return 0, false
}

func cstringGlobal(p *coreparse.Process, name string, max int) string {
	a, ok := lookup(p, name)
	if !ok {
		return ""
	}
	s, _ := p.Core.ReadCString(a, max)
	return s
}

func pointerString(p *coreparse.Process, name string) (string, bool) {
	a, ok := lookup(p, name)
	if !ok {
		return "", false
	}
	ptr, err := p.Core.ReadUint64(a)
	if err != nil || ptr == 0 {
		return "", false
	}
	s, err := p.Core.ReadCString(ptr, 8192)
	return s, err == nil
}

func intGlobal(p *coreparse.Process, name string) int {
	a, ok := lookup(p, name)
	if !ok {
		return 0
	}
	v, _ := p.Core.ReadUint32(a)
	return int(int32(v))
}

// readAssert reads g_assert_* the way generate_crash_dump writes them:
// each field only when set.
func readAssert(p *coreparse.Process) *Assert {
	a := &Assert{}
	set := false
	if v, ok := pointerString(p, "g_assert_condition"); ok {
		a.Condition, set = v, true
	}
	if v, ok := pointerString(p, "g_assert_func"); ok {
		a.Func, set = v, true
	}
	if v, ok := pointerString(p, "g_assert_file"); ok {
		a.File, set = v, true
	}
	if a.Line = intGlobal(p, "g_assert_line"); a.Line != 0 {
		set = true
	}
	if a.ThreadName = cstringGlobal(p, "g_assert_thread_name", 4096); a.ThreadName != "" {
		set = true
	}
	if a.Msg = cstringGlobal(p, "g_assert_msg", 8096); a.Msg != "" {
		set = true
	}
	if !set {
		return nil
	}
	return a
}

func readEIO(p *coreparse.Process) *IOError {
	a, ok := lookup(p, "g_eio")
	if !ok {
		return nil
	}
	b := make([]byte, 1)
	if _, err := p.Core.ReadAt(b, a); err != nil || b[0] == 0 {
		return nil
	}
	e := &IOError{Devname: cstringGlobal(p, "g_eio_devname", 1024), Path: cstringGlobal(p, "g_eio_path", 4096),
		Code: intGlobal(p, "g_eio_error"), Optype: intGlobal(p, "g_eio_iotype")}
	if a, ok := lookup(p, "g_eio_offset"); ok {
		e.Offset, _ = p.Core.ReadUint64(a)
	}
	if a, ok := lookup(p, "g_eio_length"); ok {
		e.Length, _ = p.Core.ReadUint64(a)
	}
	return e
}

var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d+\.\d+\.\d+[-.\w]*$`) })

// version is the string Ceph's ceph_version_to_str() returns: the literal
// its code loads (the first RIP-relative address in it holding a version).
func version(p *coreparse.Process) string {
	m, s, ok := p.LookupSymbol("_Z19ceph_version_to_strv")
	if !ok {
		return ""
	}
	start := s.Value + m.Bias
	size := s.Size
	if size == 0 || size > 512 {
		size = 512
	}
	code := make([]byte, size)
	n, _ := p.Core.ReadAt(code, start)
	for _, in := range disasm.DecodeAll(code[:n], start, nil) {
		if in.Mem == nil || !in.Mem.RIPRelative {
			continue
		}
		if str, err := p.Core.ReadCString(in.Mem.Addr, 128); err == nil && versionRE().MatchString(str) {
			return str
		}
	}
	return ""
}

// backtrace is Ceph's BackTrace list for the crashed thread.
func backtrace(p *coreparse.Process) ([]string, string) {
	t := p.CrashedThread()
	if t == nil {
		return nil, ""
	}
	raw, _ := p.Unwind(t.Regs)
	from, why := 0, "frame 0 of the crashed thread (no signal frame: Ceph's handler did not run on it)"
	for i := range raw {
		if raw[i].Sigtramp {
			from, why = i, "the signal trampoline of the crashed thread's signal frame, where Ceph's list starts (BackTrace skips the handler)"
			break
		}
	}
	return Lines(p, raw[from:]), why
}

// Lines are Ceph's lines for physical frames: the pc glibc's backtrace()
// records for each (the interrupted pc, else the return address) through
// backtrace_symbols and BackTrace's demangling.
func Lines(p *coreparse.Process, raw []unwind.Frame) []string {
	var out []string
	for i := range raw {
		if len(out) == maxFrames {
			break
		}
		if raw[i].PC == 0 && i == len(raw)-1 {
			break // glibc drops the NULL _Unwind_Backtrace puts above the outermost frame
		}
		out = append(out, Demangle(p.BacktraceSymbol(raw[i].PC)))
	}
	return out
}

// Demangle is Ceph's BackTrace::demangle of one backtrace_symbols line:
// the name between the last '(' and the last '+', a C++ name demangled
// and kept with its offset and address in parentheses, a C name as
// "name()", and a line without a name as it is.
func Demangle(line string) string {
	begin, end := strings.LastIndexByte(line, '('), strings.LastIndexByte(line, '+')
	if begin < 0 || end < 0 || begin+1 >= end {
		return line
	}
	mangled := line[begin+1 : end]
	if strings.HasPrefix(mangled, "_Z") {
		if d, err := demangle.ToString(mangled, demangle.NoClones); err == nil {
			return "(" + d + line[end:]
		}
	}
	return mangled + "()"
}

var assertMsgRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)^(.*) thread .* time .*(: .*)\n`) })

// StackSig is the mgr crash module's calc_sig: sha256 over each line's
// function (the line up to its last space, without its first and last
// characters, up to the first '+'), then the assertion message without
// its thread id, time and line number.
func StackSig(bt []string, assertMsg string) (string, error) {
	h := sha256.New()
	for _, l := range bt {
		f := l
		if i := strings.LastIndexByte(f, ' '); i >= 0 {
			f = f[:i]
		}
		if len(f) >= 2 {
			f = f[1 : len(f)-1]
		} else {
			f = ""
		}
		f, _, _ = strings.Cut(f, "+")
		h.Write([]byte(f))
	}
	if assertMsg != "" {
		m := assertMsgRE().FindStringSubmatch(assertMsg)
		if m == nil {
			return "", fmt.Errorf("the assertion message does not match the crash module's pattern (\"… thread … time …: …\"): `ceph crash post` would refuse it")
		}
		h.Write([]byte(m[1] + m[2]))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var addrRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[(0x[0-9a-f]+)\]$`) })

// findOwn looks for the daemon's own report of this crash: a meta whose
// backtrace addresses (the process's own, ASLR'd) are those of ours.
func findOwn(dirs []string, ours []string) *Own {
	var metas []string
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "meta")); err == nil && st.Mode().IsRegular() {
			metas = append(metas, filepath.Join(d, "meta"))
		}
		ms, _ := filepath.Glob(filepath.Join(d, "*", "meta"))
		metas = append(metas, ms...)
		ms, _ = filepath.Glob(filepath.Join(d, "posted", "*", "meta"))
		metas = append(metas, ms...)
	}
	for _, path := range metas {
		b, err := os.ReadFile(path)
		if err != nil || len(b) > 1<<22 {
			continue
		}
		if own := MatchOwn(b, ours); own != nil {
			own.Path = path
			return own
		}
	}
	return nil
}

// MatchOwn says whether meta (a crash report as Ceph's handler writes it)
// is the daemon's own report of the crash whose Ceph backtrace is ours:
// at least half of the addresses in its backtrace (the process's own,
// ASLR'd) are addresses of ours. nil when it is not, or not a report.
func MatchOwn(meta []byte, ours []string) *Own {
	oursAt := map[string]bool{}
	for _, l := range ours {
		if m := addrRE().FindStringSubmatch(l); m != nil {
			oursAt[m[1]] = true
		}
	}
	fields, bt, err := readMeta(meta)
	if err != nil {
		return nil
	}
	n, same := 0, 0
	for _, l := range bt {
		if m := addrRE().FindStringSubmatch(l); m != nil {
			n++
			if oursAt[m[1]] {
				same++
			}
		}
	}
	if n == 0 || same*2 < n {
		return nil
	}
	own := &Own{Backtrace: bt, Fields: fields,
		Matched: fmt.Sprintf("%d of the %d addresses in its backtrace are this core's", same, n)}
	msg := ""
	for _, f := range fields {
		switch f[0] {
		case "crash_id":
			own.CrashID = f[1]
		case "assert_msg":
			msg = f[1]
		}
	}
	own.StackSig, _ = StackSig(bt, msg)
	return own
}

// readMeta reads a meta file's string fields in order and its backtrace.
func readMeta(b []byte) ([][2]string, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	var fields [][2]string
	var bt []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		switch x := v.(type) {
		case string:
			fields = append(fields, [2]string{k, x})
		case float64:
			fields = append(fields, [2]string{k, strconv.FormatFloat(x, 'f', -1, 64)})
		case []any:
			if k == "backtrace" {
				for _, e := range x {
					if s, ok := e.(string); ok {
						bt = append(bt, s)
					}
				}
			}
		}
	}
	return fields, bt, nil
}
