package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// batchDir lays out a campaign's cores as nodes' directories: the field
// crash three times (other heap layouts and timing), again without the
// handler, compressed as systemd-coredump stores it (zst, lz4, xz), the
// use-after-free, the abort, a core whose library is missing, a truncated
// core and an empty one.
func batchDir(t *testing.T) (dir string, byName map[string]string) {
	t.Helper()
	set := fixture.Get(t)
	dir = t.TempDir()
	byName = map[string]string{}
	put := func(node, name, scenario string, transform func([]byte) []byte) {
		sc := set.Scenario(t, scenario)
		b, err := os.ReadFile(sc.Core)
		if err != nil {
			t.Fatal(err)
		}
		if transform != nil {
			b = transform(b)
		}
		p := filepath.Join(dir, node, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		// The cores' times, as a campaign's would differ (systemd-coredump's
		// names carry their own).
		day := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		os.Chtimes(p, day, day)
		byName[name] = p
	}
	put("node1", "core.field-crash", fixture.FieldCrash, nil)
	put("node1", "core.field-crash-2", "field-crash-2", nil)
	put("node2", "core.field-crash-3", "field-crash-3", nil)
	put("node2", "core.no-handler", fixture.NoHandler, nil)
	put("node2", "core.use-after-free", fixture.UseAfterFree, nil)
	put("node3", "core.abort", fixture.Abort, nil)
	put("node3", "core.missing-lib", "missing-lib", nil)
	put("node3", "core.truncated", fixture.FieldCrash, func(b []byte) []byte { return b[:len(b)/2] })
	put("node3", "core.empty", fixture.FieldCrash, func([]byte) []byte { return nil })
	boot := strings.Repeat("ab", 16)
	usec := time.Date(2026, 11, 20, 3, 4, 5, 0, time.UTC).UnixMicro()
	put("coredump", fmt.Sprintf("core.ceph-dse.0.%s.4242.%d.zst", boot, usec), "field-crash-2", func(b []byte) []byte {
		var buf bytes.Buffer
		w, _ := zstd.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	})
	put("coredump", fmt.Sprintf("core.ceph-dse.0.%s.4243.%d.lz4", boot, usec+1e6), "field-crash-3", func(b []byte) []byte {
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	})
	put("coredump", fmt.Sprintf("core.ceph-dse.0.%s.4244.%d.xz", boot, usec+2e6), fixture.FieldCrash, func(b []byte) []byte {
		var buf bytes.Buffer
		w, _ := xz.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	})
	// Not cores: skipped without a word.
	os.WriteFile(filepath.Join(dir, "node1", "notes.txt"), []byte("engine 64 shut down twice\n"), 0o644)
	return dir, byName
}

func summarize(t *testing.T, env []string, args ...string) batch.Summary {
	t.Helper()
	cmd := exec.Command(dsecoreBin, append([]string{"summarize", "--format", "json", "--progress", "never"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dsecore summarize %v: %v\n%s", args, err, stderr.String())
	}
	var doc batch.Summary
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return doc
}

func coreByName(doc batch.Summary) map[string]batch.Core {
	m := map[string]batch.Core{}
	for _, c := range doc.Cores {
		m[filepath.Base(c.Path)] = c
	}
	return m
}

func groupOf(doc batch.Summary, sig string) *batch.Group {
	for i := range doc.Groups {
		if doc.Groups[i].Signature == sig {
			return &doc.Groups[i]
		}
	}
	return nil
}

// TestSummarize: the campaign's groups, counts, verdicts and errors, and
// signatures stable across runs and cores.
func TestSummarize(t *testing.T) {
	dir, _ := batchDir(t)
	cache := t.TempDir()
	doc := summarize(t, []string{"DEBUGINFOD_URLS="}, dir, "--cache-dir", cache)
	// The libraries' unit indexes are kept under --cache-dir, not the
	// user's cache.
	if idx, _ := filepath.Glob(filepath.Join(cache, "dwarf", "*", "index-v2-*", "units")); len(idx) == 0 {
		t.Errorf("no unit index under %s/dwarf", cache)
	}
	cores := coreByName(doc)
	if len(doc.Cores) != 12 {
		t.Fatalf("%d cores, want 12: %v", len(doc.Cores), cores)
	}
	field := cores["core.field-crash"]
	if field.Error != "" || field.Signature == nil {
		t.Fatalf("field crash: %+v", field)
	}
	wantFrames := []string{"boost::intrusive::list_node_traits::get_next", "boost::intrusive::list_impl::erase_and_dispose",
		"dm_hash_node_t::clear", "lsm_release_all_csdobj", "lsm_destroy"}
	if strings.Join(field.Signature.Frames, ",") != strings.Join(wantFrames, ",") {
		t.Errorf("field-crash signature frames %v", field.Signature.Frames)
	}
	if field.Platform != "x86_64" || !field.Time.Equal(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("field crash platform %q time %v", field.Platform, field.Time)
	}
	if field.Signal != "SIGSEGV (SEGV_MAPERR) at 0x0" || !field.ReRaised || field.ThreadName != "Processer_5" || field.Task != 16 ||
		field.Node != "node1" || field.VerdictRule != "verdict-concurrent-release" || field.Build["libdcache.so"] == "" {
		t.Errorf("field crash summary: %+v", field)
	}
	if len(field.TopFrames) != 5 || !strings.HasPrefix(field.TopFrames[2], "dm_hash_node_t::clear (dm.cc:42)") {
		t.Errorf("top frames %q", field.TopFrames)
	}
	// One crash, one signature: other heap layouts, no handler, compressed,
	// and cut in half (its libraries' headers and r_debug are gone, the
	// crashed stack is not: the modules come from NT_FILE).
	same := []string{"core.field-crash-2", "core.field-crash-3", "core.no-handler", "core.use-after-free", "core.truncated"}
	for n, c := range cores {
		if strings.HasPrefix(n, "core.ceph-dse.") {
			same = append(same, n)
			if c.Compression == "" || c.Time.Year() != 2026 || c.Time.Month() != 11 || c.Time.Day() != 20 {
				t.Errorf("%s: compression %q time %v", n, c.Compression, c.Time)
			}
		}
	}
	if len(same) != 8 {
		t.Errorf("compressed cores not all found: %v", same)
	}
	for _, n := range same {
		c := cores[n]
		if c.Error != "" || c.Signature == nil || c.Signature.Hash != field.Signature.Hash {
			t.Errorf("%s: error %q signature %+v, want the field crash's %s", n, c.Error, c.Signature, field.Signature.Hash)
		}
	}
	g := groupOf(doc, field.Signature.ID())
	if g == nil || g.Count != 9 || len(g.Verdicts) != 2 || g.Family != g.Signature || len(g.Nodes) != 4 || len(g.Builds) != 1 {
		t.Fatalf("field-crash group %+v", g)
	}
	if !strings.Contains(g.Verdict, "Likely concurrent destruction (double release)") || !strings.Contains(g.Verdicts[1], "use-after-free") {
		t.Errorf("group verdicts %q", g.Verdicts)
	}
	if doc.Groups[0].Signature != g.Signature {
		t.Errorf("groups are not sorted by count: first %s", doc.Groups[0].Signature)
	}
	// The abort: its own group, the assertion read from the core.
	ab := cores["core.abort"]
	if ab.Signature == nil || ab.Signature.Frames[0] != "journal_replay" || ab.Assertion == nil || ab.Assertion.Line != fixtureLine(t, "dcache/lsm.cc", "ceph_assert(entries >= 0") ||
		!strings.Contains(ab.Assertion.Text, "entries >= 0") || groupOf(doc, ab.Signature.ID()).Count != 1 {
		t.Errorf("abort: %+v", ab)
	}
	// The missing library: reported, a degraded signature of its own.
	ml := cores["core.missing-lib"]
	if len(ml.Missing) != 1 || !strings.Contains(ml.Missing[0], "bin-gone/libdcache.so") || ml.Signature == nil || !ml.Signature.Degraded {
		t.Errorf("missing-lib: %+v", ml)
	}
	found := false
	for _, m := range doc.MissingBuilds {
		found = found || strings.HasSuffix(m.Module, "bin-gone/libdcache.so") && m.Cores == 1 && len(m.BuildID) == 40
	}
	if !found {
		t.Errorf("missing builds %+v", doc.MissingBuilds)
	}
	// The bad ones: errors that name the problem, not groups.
	if e := cores["core.empty"].Error; e == "" {
		t.Errorf("empty core: no error")
	}
	tr := cores["core.truncated"]
	if ws := strings.Join(tr.Warnings, " "); !strings.Contains(ws, "truncated") || !strings.Contains(ws, "libdcache.so: its ELF header is not in the core") {
		t.Errorf("truncated core: no warning of the truncation and of the module from NT_FILE: %+v", tr)
	}
	if doc.Errors < 1 || doc.Errors > 2 {
		t.Errorf("errors %d", doc.Errors)
	}

	// Run again: cached results, the same signatures; and without the cache.
	again := summarize(t, []string{"DEBUGINFOD_URLS="}, dir, "--cache-dir", cache)
	fresh := summarize(t, []string{"DEBUGINFOD_URLS="}, dir, "--cache-dir", t.TempDir(), "--jobs", "1")
	for n, c := range cores {
		for _, other := range []map[string]batch.Core{coreByName(again), coreByName(fresh)} {
			o := other[n]
			if (c.Signature == nil) != (o.Signature == nil) || c.Signature != nil && c.Signature.Hash != o.Signature.Hash || c.Error != o.Error {
				t.Errorf("%s: not the same on another run: %+v vs %+v", n, c.Signature, o.Signature)
			}
		}
		if c.Error == "" && !coreByName(again)[n].Cached {
			t.Errorf("%s: not reused from the cache", n)
		}
	}

	// --since/--until: the systemd-coredump cores are from 2026-11-20.
	if d := summarize(t, []string{"DEBUGINFOD_URLS="}, dir, "--cache-dir", cache, "--until", "2026-11-21"); len(d.Cores) != 3 || len(d.Groups) != 1 {
		t.Errorf("--until 2026-11-21: %d cores", len(d.Cores))
	}
	if d := summarize(t, []string{"DEBUGINFOD_URLS="}, dir, "--cache-dir", cache, "--since", "2026-11-21T00:00:00Z"); len(d.Cores) != 9 {
		t.Errorf("--since 2026-11-21: %d cores", len(d.Cores))
	}

	// A baseline without the abort marks its group new.
	base := filepath.Join(t.TempDir(), "base.json")
	var baseDoc batch.Summary
	for _, gg := range doc.Groups {
		if gg.Signature != ab.Signature.ID() {
			baseDoc.Groups = append(baseDoc.Groups, gg)
		}
	}
	b, _ := json.Marshal(baseDoc)
	os.WriteFile(base, b, 0o644)
	withBase := summarize(t, []string{"DEBUGINFOD_URLS="}, dir, "--cache-dir", cache, "--baseline", base)
	for _, gg := range withBase.Groups {
		if gg.New != (gg.Signature == ab.Signature.ID()) {
			t.Errorf("baseline: group %s new=%v", gg.Signature, gg.New)
		}
	}
}

// TestSummarizeDebuginfod: the missing library comes from a debuginfod
// server by build-id, and the core joins its crash's group; a dead server
// costs one failed request, not a stall.
func TestSummarizeDebuginfod(t *testing.T) {
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	// The server knows the fixture's binaries by build-id.
	files := map[string]string{}
	for _, p := range []string{sc.Lib, sc.Exe} {
		f, err := elf.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		files[hex.EncodeToString(symbols.BuildID(f))] = p
		f.Close()
	}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		m := regexp.MustCompile(`^/buildid/([0-9a-f]+)/(executable|debuginfo)$`).FindStringSubmatch(r.URL.Path)
		if m == nil || files[m[1]] == "" || m[2] != "executable" {
			http.NotFound(w, r)
			return
		}
		f, _ := os.Open(files[m[1]])
		defer f.Close()
		io.Copy(w, f)
	}))
	defer srv.Close()
	dir := t.TempDir()
	b, _ := os.ReadFile(set.Scenario(t, "missing-lib").Core)
	os.WriteFile(filepath.Join(dir, "core.missing-lib"), b, 0o644)
	b, _ = os.ReadFile(sc.Core)
	os.WriteFile(filepath.Join(dir, "core.field-crash"), b, 0o644)

	// A dead server first in the list, then the live one.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cache := t.TempDir()
	start := time.Now()
	doc := summarize(t, []string{"DEBUGINFOD_URLS=" + deadURL + " " + srv.URL}, dir, "--cache-dir", cache, "--debuginfod-timeout", "2s")
	if time.Since(start) > 60*time.Second {
		t.Errorf("summarize took %v with a dead debuginfod server", time.Since(start))
	}
	cores := coreByName(doc)
	ml, fc := cores["core.missing-lib"], cores["core.field-crash"]
	if ml.Error != "" || len(ml.Missing) != 0 || ml.Signature == nil || ml.Signature.Degraded || ml.Signature.Hash != fc.Signature.Hash {
		t.Fatalf("with debuginfod: missing-lib %+v (field crash %+v)", ml, fc.Signature)
	}
	if len(doc.Groups) != 1 || doc.Groups[0].Count != 2 {
		t.Errorf("groups %+v", doc.Groups)
	}
	fetched := strings.Join(doc.Fetched, " ")
	if !strings.Contains(fetched, "/executable from "+srv.URL) {
		t.Errorf("fetched %q, asked %v", doc.Fetched, asked)
	}
	if !strings.Contains(strings.Join(doc.Warnings, " "), deadURL) {
		t.Errorf("no word about the dead server: %q", doc.Warnings)
	}
	if _, err := os.Stat(filepath.Join(cache, "debuginfod", ".build-id")); err != nil {
		t.Errorf("nothing cached: %v", err)
	}
}

// TestSummarizeFormats: markdown, the terminal table, ceph-crash meta files
// with the fields Ceph's crash module reads, and the HTML report rendered
// by headless Chromium.
func TestSummarizeFormats(t *testing.T) {
	dir, _ := batchDir(t)
	cache := t.TempDir()
	md := string(run(t, "summarize", dir, "--cache-dir", cache, "--format", "markdown", "--progress", "never"))
	for _, w := range []string{"# Crash summary", "| 9 | `v1:", "dm_hash_node_t::clear", "Likely concurrent destruction", "## Not summarized", "core.empty", "## Missing builds"} {
		if !strings.Contains(md, w) {
			t.Errorf("markdown: no %q:\n%s", w, md)
		}
	}
	tbl := string(run(t, "summarize", dir, "--cache-dir", cache, "--progress", "never"))
	if !regexp.MustCompile(`(?m)^9\s+v1:[0-9a-f]{12}\s+=\s+boost::intrusive::list_node_traits::get_next < `).MatchString(tbl) ||
		!strings.Contains(tbl, "12 cores, 3 groups") {
		t.Errorf("table:\n%s", tbl)
	}

	// ceph-crash: one meta per summarized core, as /var/lib/ceph/crash holds.
	cmdline, err := os.ReadFile(filepath.Join(fixture.Get(t).Scenario(t, fixture.FieldCrash).Dir, "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	fieldCmdline := strings.TrimSpace(string(cmdline))
	out := t.TempDir()
	run(t, "summarize", dir, "--cache-dir", cache, "--format", "ceph-crash", "--out", out, "--progress", "never")
	metas, _ := filepath.Glob(filepath.Join(out, "*", "meta"))
	if len(metas) < 10 {
		t.Fatalf("%d meta files", len(metas))
	}
	idRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	asserts := 0
	for _, p := range metas {
		var m map[string]any
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		id, _ := m["crash_id"].(string)
		if !idRE.MatchString(id) || filepath.Base(filepath.Dir(p)) != id {
			t.Errorf("%s: crash_id %q", p, id)
		}
		// As Ceph writes it (utime_t::gmtime: "%Y-%m-%dT%H:%M:%S.%f" and a
		// Z), which the crash module parses.
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z", fmt.Sprint(m["timestamp"])); err != nil {
			t.Errorf("%s: timestamp %v: %v", p, m["timestamp"], err)
		}
		bt, _ := m["backtrace"].([]any)
		// stack_sig is the mgr's to compute (on post); ours rides along.
		// The core cut in half lost the stack argv is on: the kernel's
		// copy of the command line's first 79 bytes is what is left, and
		// when it was cut short (the fixtures' path is long enough) its
		// last word ("64", or "6" of it) cannot be trusted: no entity name
		// rather than client.admin or client.6.
		wantEntity := "client.64"
		if strings.HasSuffix(fmt.Sprint(m["dsecore_core"]), "core.truncated") && len(fieldCmdline) >= 79 {
			wantEntity = "<nil>"
		}
		if fmt.Sprint(m["entity_name"]) != wantEntity || m["process_name"] != "ceph-dse" || m["ceph_version"] != "17.2.7-dse.3" || len(bt) < 2 ||
			m["stack_sig"] != nil || len(fmt.Sprint(m["dsecore_stack_sig"])) != 64 {
			t.Errorf("%s: %v", p, m)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "done")); err != nil {
			t.Errorf("%s: no done file: ceph-crash would not post it", p)
		}
		if _, ok := m["assert_condition"]; ok {
			asserts++
			if m["assert_line"] != float64(fixtureLine(t, "dcache/lsm.cc", "ceph_assert(entries >= 0")) || !strings.HasSuffix(fmt.Sprint(m["assert_file"]), "lsm.cc") {
				t.Errorf("%s: assertion fields %v", p, m)
			}
		}
	}
	if asserts != 1 {
		t.Errorf("%d metas with an assertion, want 1 (the abort)", asserts)
	}

	// HTML: self-contained, rendered by Chromium; the screenshot is kept.
	html := filepath.Join(t.TempDir(), "report.html")
	run(t, "summarize", dir, "--cache-dir", cache, "--format", "html", "--out", html, "--progress", "never")
	page, _ := os.ReadFile(html)
	if strings.Contains(string(page), "<script") || strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Errorf("the HTML report is not self-contained")
	}
	for _, w := range []string{`<svg id="chart"`, `class="bar"`, "dm_hash_node_t::clear", "Not summarized", "journal_replay"} {
		if !strings.Contains(string(page), w) {
			t.Errorf("html: no %q", w)
		}
	}
	// The same page in Simplified Chinese (from the cached results: the
	// verdicts' catalog messages are cached with them): the words and
	// each group's verdict in the catalog's Chinese, what differs between
	// a group's cores taken out as in English.
	zhHTML := filepath.Join(t.TempDir(), "report.zh-CN.html")
	run(t, "summarize", dir, "--cache-dir", cache, "--format", "html", "--out", zhHTML, "--progress", "never", "--lang", "zh-CN")
	zh, _ := os.ReadFile(zhHTML)
	for _, w := range []string{`<html lang="zh-CN">`, "<h1>ceph-dse 崩溃汇总</h1>", "12 个 core，3 组，", "<h2>未能汇总</h2>", "<th>结论</th>",
		"很可能是两条路径并发析构（重复释放）了 dm_hash_node_t 0x… 的对象：线程 LWP N (Processer_N)，正在运行任务 N", "journal_replay() 中断言失败后调用 abort()"} {
		if !strings.Contains(string(zh), w) {
			t.Errorf("zh-CN html: no %q", w)
		}
	}
	for _, w := range []string{"Likely", "NULL pointer read", "Another path", "abort() after", "Crashes over time", "Not summarized"} {
		if strings.Contains(string(zh), w) {
			t.Errorf("zh-CN html: English %q", w)
		}
	}
	chromium := ""
	for _, c := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(c); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		t.Fatal("chromium is not installed (scripts/setup.sh installs it): the HTML report must be rendered")
	}
	shotDir := os.Getenv("DSECORE_ARTIFACTS")
	if shotDir == "" {
		shotDir = filepath.Join(fixture.RepoRoot(), "build", "artifacts")
	}
	os.MkdirAll(shotDir, 0o755)
	shot := filepath.Join(shotDir, "summarize-report.png")
	os.Remove(shot)
	dom := filepath.Join(t.TempDir(), "dom.html")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--window-size=1280,1600", "--screenshot="+shot, "file://"+html)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("no screenshot: %v", err)
	}
	// The DOM Chromium built: the groups table has a row per group.
	cmd = exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--dump-dom", "file://"+html)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	os.WriteFile(dom, b, 0o644)
	if n := strings.Count(string(b), `<tr class="group">`); n != 3 {
		t.Errorf("rendered groups table has %d groups, want 3", n)
	}
	t.Logf("screenshot: %s", shot)
}

// TestCompressedCores: bt, inspect and a DAP session read systemd-coredump's
// compressed cores transparently, through a decompressed copy in the cache
// (never beside the original), and answer as on the plain core.
func TestCompressedCores(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	raw, _ := os.ReadFile(sc.Core)
	dir, cache := t.TempDir(), t.TempDir()
	env := []string{"XDG_CACHE_HOME=" + cache}
	plain := run(t, "bt", sc.Core, "--exe", sc.Exe)
	for _, ext := range []string{"zst", "lz4", "xz"} {
		var buf bytes.Buffer
		switch ext {
		case "zst":
			w, _ := zstd.NewWriter(&buf)
			w.Write(raw)
			w.Close()
		case "lz4":
			w := lz4.NewWriter(&buf)
			w.Write(raw)
			w.Close()
		case "xz":
			w, _ := xz.NewWriter(&buf)
			w.Write(raw)
			w.Close()
		}
		p := filepath.Join(dir, "core.ceph-dse.0."+strings.Repeat("cd", 16)+".77."+fmt.Sprint(time.Now().UnixMicro())+"."+ext)
		os.WriteFile(p, buf.Bytes(), 0o644)
		sum := sha256.Sum256(buf.Bytes())
		cmd := exec.Command(dsecoreBin, "bt", p, "--exe", sc.Exe)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bt %s: %v", ext, err)
		}
		if string(out) != string(plain) {
			t.Errorf("bt on the .%s core differs from the plain core's:\n%s", ext, out)
		}
		cmd = exec.Command(dsecoreBin, "inspect", p, "--json")
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "Likely concurrent destruction") {
			t.Errorf("inspect %s: %v", ext, err)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "core.ceph-dse.") {
				t.Errorf("something was written beside the original: %s", e.Name())
			}
		}
		b, _ := os.ReadFile(p)
		if sha256.Sum256(b) != sum {
			t.Errorf("the .%s core was modified", ext)
		}
	}
	copies, _ := filepath.Glob(filepath.Join(cache, "dsecore", "cores", "*.core-v2"))
	if len(copies) != 3 {
		t.Errorf("%d decompressed copies in the cache, want 3", len(copies))
	}
}

// fixtureLine is the line of the fixture source that contains text.
func fixtureLine(t *testing.T, rel, text string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixture.RepoRoot(), "fixtures", rel))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no %q", rel, text)
	return 0
}

// TestSummarizeCache: a core's cached result is reused while the core's
// size and time and the options that shape a result are unchanged, and
// made again when any of them changes, or with --no-cache.
func TestSummarizeCache(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	dir, cache := t.TempDir(), t.TempDir()
	core := filepath.Join(dir, "core.field")
	raw, err := os.ReadFile(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	os.WriteFile(core, raw, 0o644)
	os.Chtimes(core, mt, mt)
	var first batch.Core
	step := func(what string, wantCached bool, args ...string) {
		t.Helper()
		doc := summarize(t, []string{"DEBUGINFOD_URLS="}, append([]string{dir, "--cache-dir", cache}, args...)...)
		if len(doc.Cores) != 1 {
			t.Fatalf("%s: %d cores", what, len(doc.Cores))
		}
		c := doc.Cores[0]
		if c.Cached != wantCached {
			t.Errorf("%s: cached %v, want %v", what, c.Cached, wantCached)
		}
		if first.Signature == nil {
			first = c
		}
		frames := 5 // the default, and first's
		if len(args) == 2 && args[0] == "--frames" {
			frames = 3
		}
		if c.Signature == nil || len(c.Signature.Frames) != frames || frames == 5 && c.Signature.Hash != first.Signature.Hash ||
			c.VerdictRule != "verdict-concurrent-release" || c.Path != core {
			t.Errorf("%s: signature %+v, verdict rule %q, path %s", what, c.Signature, c.VerdictRule, c.Path)
		}
	}
	step("first run", false)
	step("second run", true)
	later := mt.Add(time.Second)
	os.Chtimes(core, later, later)
	step("the core's time changed", false)
	step("again", true)
	f, _ := os.OpenFile(core, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, 4096))
	f.Close()
	os.Chtimes(core, later, later)
	step("the core's size changed", false)
	step("again", true)
	step("another --frames", false, "--frames", "3")
	step("again", true, "--frames", "3")
	step("--no-cache", false, "--no-cache")
}
