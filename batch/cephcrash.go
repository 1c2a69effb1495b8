package batch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/analysis/cephcrash"
)

// CephCrashID is the crash_id of a core's report in Ceph's format (the
// crash time as utime_t::gmtime writes it, "_", a UUID). The UUID is the
// core's identity (path, size, mtime) hashed, so summarizing the same core
// again gives the same report and `ceph crash post` keeps one copy.
func CephCrashID(c Core) string {
	h := CephCrashCoreKey(c)
	return cephTime(c) + "_" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// CephCrashCoreKey names a core (its path, size and time) in the reports
// dsecore writes or enriches (dsecore_core_key): an agent restarted after
// writing a report finds it by this key.
func CephCrashCoreKey(c Core) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", c.Path, c.Size, c.MTime.UnixNano())))
	return hex.EncodeToString(sum[:16])
}

func cephTime(c Core) string { return c.Time.UTC().Format("2006-01-02T15:04:05.000000Z") }

// CephCrashMeta is one core as the meta file Ceph's fatal-signal handler
// writes into the crash directory (src/global/signal_handler.cc,
// generate_crash_dump): the same fields in the same order, each only when
// the core (or the daemon's own report of the crash, in a crash directory)
// holds it, as Ceph's pretty JSONFormatter prints them; then dsecore's own
// fields under their own names. `ceph crash post -i meta` takes it; the
// mgr computes stack_sig from backtrace and assert_msg, as for Ceph's.
func CephCrashMeta(c Core) []byte {
	m := &metaWriter{}
	m.str("crash_id", CephCrashID(c))
	m.str("timestamp", cephTime(c))
	r := c.Ceph
	if r == nil {
		r = &cephcrash.Report{}
	}
	m.opt("process_name", r.ProcessName)
	m.opt("entity_name", r.EntityName)
	m.opt("ceph_version", r.CephVersion)
	host := map[string]string{}
	for _, f := range r.Host {
		host[f[0]] = f[1]
	}
	if host["utsname_machine"] == "" && c.Platform != "" {
		host["utsname_machine"] = c.Platform // AT_PLATFORM: the kernel's uname machine
	}
	for _, k := range []string{"utsname_hostname", "utsname_sysname", "utsname_release", "utsname_version", "utsname_machine",
		"os_name", "os_id", "os_version_id", "os_version"} {
		m.opt(k, host[k])
	}
	if a := r.Assert; a != nil {
		m.opt("assert_condition", a.Condition)
		m.opt("assert_func", a.Func)
		m.opt("assert_file", a.File)
		if a.Line != 0 {
			m.raw("assert_line", strconv.Itoa(a.Line))
		}
		m.opt("assert_thread_name", a.ThreadName)
		m.opt("assert_msg", a.Msg)
	}
	if e := r.IOError; e != nil {
		m.raw("io_error", "true")
		m.opt("io_error_devname", e.Devname)
		m.opt("io_error_path", e.Path)
		if e.Code != 0 {
			m.raw("io_error_code", strconv.Itoa(e.Code))
		}
		if e.Optype != 0 {
			m.raw("io_error_optype", strconv.Itoa(e.Optype))
		}
		if e.Offset != 0 {
			m.raw("io_error_offset", strconv.FormatUint(e.Offset, 10))
		}
		if e.Length != 0 {
			m.raw("io_error_length", strconv.FormatUint(e.Length, 10))
		}
	}
	m.list("backtrace", r.Backtrace)
	dsecoreFields(m, c)
	return m.done()
}

// dsecoreFields are dsecore's own fields of a crash report, after Ceph's,
// under names Ceph does not use: what the core shows (the real fault, the
// verdict and its evidence, the top frames, the signature and the builds),
// where it was read and, for a core that could not be analysed, why.
func dsecoreFields(m *metaWriter, c Core) {
	r := c.Ceph
	if r == nil {
		r = &cephcrash.Report{}
	}
	m.opt("dsecore_core", c.Path)
	if c.Path != "" {
		m.str("dsecore_core_key", CephCrashCoreKey(c))
	}
	m.opt("dsecore_node", c.Node)
	m.opt("dsecore_error", c.Error)
	m.opt("dsecore_real_fault", c.Signal)
	m.opt("dsecore_verdict", c.Verdict)
	m.opt("dsecore_confidence", c.Confidence)
	m.opt("dsecore_verdict_rule", c.VerdictRule)
	if len(c.Evidence) > 0 {
		m.list("dsecore_evidence", c.Evidence)
	}
	if len(c.TopFrames) > 0 {
		m.list("dsecore_frames", c.TopFrames)
	}
	if c.Signature != nil {
		m.str("dsecore_signature", c.Signature.ID())
		m.list("dsecore_signature_frames", c.Signature.Frames)
		if c.Signature.Degraded {
			m.raw("dsecore_signature_degraded", "true")
		}
	}
	if len(c.Build) > 0 {
		var b []string
		for _, k := range slices.Sorted(maps.Keys(c.Build)) {
			b = append(b, k+" "+c.Build[k])
		}
		m.list("dsecore_build", b)
	}
	if c.LWP != 0 {
		m.raw("dsecore_lwp", strconv.Itoa(c.LWP))
	}
	m.opt("dsecore_thread_name", c.ThreadName)
	m.opt("dsecore_backtrace_from", r.BacktraceFrom)
	m.opt("dsecore_stack_sig", r.StackSig)
	if o := r.Own; o != nil {
		m.str("dsecore_own_crash_id", o.CrashID)
		m.str("dsecore_own_stack_sig", o.StackSig)
	}
}

// CephCrashEnrich is the daemon's own report of a crash (its meta, as
// Ceph's handler wrote it) with dsecore's analysis of the core added: every
// field of the daemon's kept as it is and where it is (crash_id, timestamp,
// backtrace: the mgr's stack_sig stays the daemon's), a field of dsecore's
// it already has (an earlier enrichment) replaced, dsecore's fields after.
// One crash stays one report.
func CephCrashEnrich(own []byte, c Core) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(own))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("the daemon's report is not a JSON object")
	}
	m := &metaWriter{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("the daemon's report: %w", err)
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("the daemon's report: %s: %w", k, err)
		}
		if strings.HasPrefix(k, "dsecore_") {
			continue
		}
		m.value(k, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("the daemon's report: %w", err)
	}
	dsecoreFields(m, c)
	return m.done(), nil
}

// metaWriter writes a JSON object as Ceph's JSONFormatter(true) does:
// four-space indent, keys in the order given, no HTML escaping.
type metaWriter struct {
	b    bytes.Buffer
	open bool
}

func (m *metaWriter) key(k string) {
	if !m.open {
		m.b.WriteString("{\n")
		m.open = true
	} else {
		m.b.WriteString(",\n")
	}
	m.b.WriteString("    ")
	m.b.Write(jsonString(k))
	m.b.WriteString(": ")
}

func (m *metaWriter) str(k, v string) { m.key(k); m.b.Write(jsonString(v)) }
func (m *metaWriter) raw(k, v string) { m.key(k); m.b.WriteString(v) }

// value writes a JSON value as read, lists of strings as list does.
func (m *metaWriter) value(k string, v json.RawMessage) {
	var l []string
	if len(v) > 0 && v[0] == '[' && json.Unmarshal(v, &l) == nil {
		m.list(k, l)
		return
	}
	var x any
	if json.Unmarshal(v, &x) == nil {
		if str, ok := x.(string); ok {
			m.str(k, str)
			return
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		b.Reset()
		b.WriteString("null")
	}
	m.raw(k, b.String())
}

func (m *metaWriter) opt(k, v string) {
	if v != "" {
		m.str(k, v)
	}
}

func (m *metaWriter) list(k string, vs []string) {
	m.key(k)
	if len(vs) == 0 {
		m.b.WriteString("[]")
		return
	}
	m.b.WriteString("[")
	for i, v := range vs {
		if i > 0 {
			m.b.WriteString(",")
		}
		m.b.WriteString("\n        ")
		m.b.Write(jsonString(v))
	}
	m.b.WriteString("\n    ]")
}

func (m *metaWriter) done() []byte {
	if !m.open {
		return []byte("{}\n")
	}
	m.b.WriteString("\n}\n")
	return m.b.Bytes()
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
