package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// badCase is one corrupted or wrong input made from a fixture core.
type badCase struct {
	name string
	core string   // the input path
	args []string // extra flags (a wrong executable, ...)
	// asNobody runs the commands as uid/gid 65534: the tests run as root,
	// which reads a mode-000 file.
	asNobody bool
}

// corrupt builds the corrupted-input corpus from the field-crash core:
// truncations, a zeroed note segment, byte flips in notes, program headers
// and stack pages, an empty file, a non-ELF file, a 32-bit ELF header, a
// directory, the wrong executable, a missing library.
func corrupt(t *testing.T) []badCase {
	t.Helper()
	set := fixture.Get(t)
	sc := set.Scenario(t, fixture.FieldCrash)
	orig, err := os.ReadFile(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(sc.Core)
	if err != nil {
		t.Fatal(err)
	}
	var note *elf.Prog
	var stack *elf.Prog
	sp := hexField(t, sc.Expected, "fault_sp")
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE {
			note = p
		}
		if p.Type == elf.PT_LOAD && p.Vaddr <= sp && sp < p.Vaddr+p.Memsz && p.Filesz > 0 {
			stack = p
		}
	}
	ef.Close()
	if note == nil || stack == nil {
		t.Fatal("no note or stack segment in the fixture core")
	}
	dir := t.TempDir()
	var cases []badCase
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, badCase{name: name, core: p})
		return p
	}
	for _, pct := range []int{1, 10, 50, 90} {
		write(fmt.Sprintf("truncated-%d", pct), orig[:len(orig)*pct/100])
	}
	zeroed := bytes.Clone(orig)
	clear(zeroed[note.Off : note.Off+note.Filesz])
	write("notes-zeroed", zeroed)
	rng := rand.New(rand.NewSource(1))
	flip := func(name string, lo, hi uint64, n int) {
		b := bytes.Clone(orig)
		for i := 0; i < n; i++ {
			b[lo+uint64(rng.Int63n(int64(hi-lo)))] ^= byte(1 + rng.Intn(255))
		}
		write(name, b)
	}
	for i := 0; i < 3; i++ {
		flip(fmt.Sprintf("notes-flipped-%d", i), note.Off, note.Off+note.Filesz, 64)
	}
	phoff := binary.LittleEndian.Uint64(orig[0x20:])
	phnum := uint64(binary.LittleEndian.Uint16(orig[0x38:]))
	flip("phdrs-flipped", phoff, phoff+phnum*56, 32)
	flip("stack-flipped", stack.Off, stack.Off+stack.Filesz, 4096)
	write("empty", nil)
	write("not-elf", []byte("this is a core dump, honest\n"))
	elf32 := bytes.Clone(orig[:4096])
	elf32[4] = 1 // ELFCLASS32
	write("elf32", elf32)
	d := filepath.Join(dir, "a-directory")
	os.Mkdir(d, 0o755)
	cases = append(cases, badCase{name: "directory", core: d})
	cases = append(cases, badCase{name: "nonexistent", core: filepath.Join(dir, "no-such-core")})
	// A core nobody may read: mode 000 in a directory anyone may enter.
	open, err := os.MkdirTemp("", "dsecore-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	os.Chmod(open, 0o755)
	unreadable := filepath.Join(open, "unreadable")
	if err := os.WriteFile(unreadable, orig, 0o000); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, badCase{name: "unreadable", core: unreadable, asNobody: os.Geteuid() == 0})
	cov := set.Scenario(t, fixture.Coverage)
	cases = append(cases, badCase{name: "wrong-executable", core: sc.Core, args: []string{"--exe", cov.Exe}})
	cases = append(cases, badCase{name: "missing-library", core: set.Scenario(t, "missing-lib").Core})
	return cases
}

// runBounded runs dsecore with a 10 s limit and returns its exit code,
// stdout and stderr; a timeout or a Go panic fails the test.
func runBounded(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	return runBoundedAs(t, false, stdin, args...)
}

// peakRSS is the largest peak RSS (KiB) of a bounded run so far; a run over
// maxRSS fails.
var peakRSS atomic.Int64

const maxRSS = 1 << 20 // KiB: 1 GiB

// nobodyBin is a copy of dsecore that uid 65534 may run (the test binary's
// own directory is private to root).
var nobodyBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dsecore-nobody-")
	if err != nil {
		return "", err
	}
	os.Chmod(dir, 0o755)
	b, err := os.ReadFile(dsecoreBin)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "dsecore")
	return p, os.WriteFile(p, b, 0o755)
})

// runBoundedAs is runBounded, as uid/gid 65534 when asNobody.
func runBoundedAs(t *testing.T, asNobody bool, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bin := dsecoreBin
	if asNobody {
		var err error
		if bin, err = nobodyBin(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if asNobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Env = append(os.Environ(), "HOME=/nonexistent", "XDG_CACHE_HOME=")
	}
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("dsecore %s: no answer in 10 s", strings.Join(args, " "))
		return -1, out.String(), errb.String()
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dsecore %s: %v", strings.Join(args, " "), err)
	}
	if strings.Contains(errb.String(), "panic:") || strings.Contains(errb.String(), "goroutine ") {
		t.Errorf("dsecore %s: a Go panic:\n%s", strings.Join(args, " "), errb.String())
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("dsecore %s: %v", strings.Join(args, " "), time.Since(start))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		for old := peakRSS.Load(); ru.Maxrss > old && !peakRSS.CompareAndSwap(old, ru.Maxrss); old = peakRSS.Load() {
		}
		if ru.Maxrss > maxRSS {
			t.Errorf("dsecore %s: peak RSS %d MiB", strings.Join(args, " "), ru.Maxrss>>10)
		}
	}
	return code, out.String(), errb.String()
}

// wantError is what the refusal of an input must say.
var wantError = map[string]string{
	"notes-zeroed": "core has no threads",
	"empty":        "empty file",
	"not-elf":      "not an ELF file",
	"elf32":        "not a 64-bit little-endian ELF file",
	"directory":    "is a directory, not a core file",
	"nonexistent":  "no such file or directory",
	"unreadable":   "permission denied",
}

// wantExits are the exit codes of inspect, bt, tasks, summarize and the DAP
// launch (1: launch answered an error) on each input: a refused input is
// refused by every command; summarize reports it and exits 0.
var wantExits = map[string][5]int{
	"truncated-1": {0, 0, 0, 0, 0}, "truncated-10": {0, 0, 0, 0, 0}, "truncated-50": {0, 0, 0, 0, 0}, "truncated-90": {0, 0, 0, 0, 0},
	"notes-zeroed":    {1, 1, 1, 0, 1},
	"notes-flipped-0": {0, 0, 0, 0, 0}, "notes-flipped-1": {0, 0, 0, 0, 0}, "notes-flipped-2": {0, 0, 0, 0, 0},
	"phdrs-flipped": {0, 0, 0, 0, 0}, "stack-flipped": {0, 0, 0, 0, 0},
	"empty": {1, 1, 1, 0, 1}, "not-elf": {1, 1, 1, 0, 1}, "elf32": {1, 1, 1, 0, 1}, "directory": {1, 1, 1, 0, 1},
	"nonexistent": {1, 1, 1, 0, 1}, "unreadable": {1, 1, 1, 0, 1},
	"wrong-executable": {0, 0, 0, 0, 0}, "missing-library": {0, 0, 0, 0, 0},
}

// wantSaid is what a partial answer must say beyond its report: the
// warning on stderr that says what is missing, or (wrong-executable: the
// core's own executable is found by its build-id) the right stack.
var wantSaid = map[string]struct{ stderr, stdout string }{
	"truncated-1":      {stderr: "core truncated"},
	"truncated-10":     {stderr: "core truncated"},
	"truncated-50":     {stderr: "core truncated"},
	"truncated-90":     {stderr: "core truncated"},
	"missing-library":  {stderr: "libdcache.so: no local file found"},
	"wrong-executable": {stdout: "in dm_hash_node_t::clear"},
}

var tasksHead = regexp.MustCompile(`^(\d+ tasks \(profile |no coroutine runtime)`)

// checkAnswer says what is wrong with a partial answer (exit 0) of cmd:
// the report must be there, for this core.
func checkAnswer(cmd, core, stdout string) string {
	switch cmd {
	case "inspect":
		var doc struct {
			Core    string `json:"core"`
			Process struct {
				PID     int `json:"pid"`
				Threads int `json:"threads"`
			} `json:"process"`
			Threads []json.RawMessage `json:"threads"`
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			return fmt.Sprintf("not a JSON report: %v", err)
		}
		if doc.Core != core || doc.Process.PID <= 0 || doc.Process.Threads == 0 || len(doc.Threads) != doc.Process.Threads {
			return fmt.Sprintf("core %q pid %d, %d threads, %d listed", doc.Core, doc.Process.PID, doc.Process.Threads, len(doc.Threads))
		}
	case "bt":
		if !strings.HasPrefix(stdout, "Thread LWP ") || !strings.Contains(stdout, "\n#0 ") {
			return "no thread's stack"
		}
	case "tasks":
		if !tasksHead.MatchString(stdout) {
			return "no task table"
		}
	}
	return ""
}

// TestBadInputs: every command on every corrupted input ends within 10 s
// with a partial answer (exit 0: the report, and a warning that says what
// is missing) or a clear error (exit 1, nothing on stdout) naming the file,
// never a panic; each input gets the exit code of its kind (wantExits); and
// no input is ever written.
func TestBadInputs(t *testing.T) {
	cases := corrupt(t)
	sums := map[string][32]byte{}
	hash := func(p string) [32]byte {
		b, err := os.ReadFile(p)
		if err != nil {
			return [32]byte{}
		}
		return sha256.Sum256(b)
	}
	// The inputs, and the real files the wrong-executable and
	// missing-library cases open: none may change.
	inputs := []string{}
	for _, c := range cases {
		inputs = append(inputs, c.core)
	}
	set := fixture.Get(t)
	for _, sc := range []*fixture.Scenario{set.Scenario(t, fixture.FieldCrash), set.Scenario(t, fixture.Coverage)} {
		inputs = append(inputs, sc.Core, sc.Exe, sc.Lib)
	}
	for _, p := range inputs {
		sums[p] = hash(p)
	}
	cache := t.TempDir()
	// The unreadable case's summarize runs as nobody: a cache it may use.
	nobodyCache, err := os.MkdirTemp("", "dsecore-nobody-cache-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(nobodyCache)
	os.Chmod(nobodyCache, 0o777)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, ok := wantExits[c.name]
			if !ok {
				t.Fatalf("no expected exit codes for %s", c.name)
			}
			var codes [5]int
			for i, cmd := range [][]string{
				append([]string{"inspect", c.core, "--json"}, c.args...),
				append([]string{"bt", c.core, "--all"}, c.args...),
				append([]string{"tasks", c.core}, c.args...),
			} {
				code, stdout, stderr := runBoundedAs(t, c.asNobody, nil, cmd...)
				codes[i] = code
				switch code {
				case 0:
					if bad := checkAnswer(cmd[0], c.core, stdout); bad != "" {
						t.Errorf("dsecore %s on %s: exit 0 but %s:\n%.400s\nstderr: %.400s", cmd[0], c.name, bad, stdout, stderr)
					}
					said := stderr // inspect --json: in the document's warnings
					if cmd[0] == "inspect" {
						said += stdout
					}
					if w := wantSaid[c.name]; w.stderr != "" && !strings.Contains(said, w.stderr) || w.stdout != "" && cmd[0] == "bt" && !strings.Contains(stdout, w.stdout) {
						t.Errorf("dsecore %s on %s: want %+v; stdout:\n%.400s\nstderr: %.400s", cmd[0], c.name, w, stdout, stderr)
					}
				case 1:
					if stdout != "" {
						t.Errorf("dsecore %s on %s: exit 1 after printing:\n%.400s", cmd[0], c.name, stdout)
					}
					if !strings.Contains(stderr, filepath.Base(c.core)) && !strings.Contains(stderr, c.core) {
						t.Errorf("dsecore %s: the error does not name the file: %s", cmd[0], stderr)
					}
					if want := wantError[c.name]; want == "" || !strings.Contains(stderr, want) {
						t.Errorf("dsecore %s on %s: %q does not say %q", cmd[0], c.name, stderr, want)
					}
				default:
					t.Errorf("dsecore %s: exit %d\n%s", strings.Join(cmd, " "), code, stderr)
				}
			}
			// summarize never fails on a bad core: it reports it, with
			// the reason it was refused. (It finds executables itself: no
			// --exe.)
			cacheDir := cache
			if c.asNobody {
				cacheDir = nobodyCache
			}
			code, out, stderr := runBoundedAs(t, c.asNobody, nil, "summarize", c.core, "--format", "json", "--cache-dir", cacheDir, "--progress", "never")
			codes[3] = code
			var doc struct {
				Cores []struct {
					Path  string `json:"path"`
					Error string `json:"error"`
				} `json:"cores"`
				Warnings []string `json:"warnings"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Errorf("summarize: exit %d, not a JSON report (%v): %s\n%.400s", code, err, stderr, out)
			}
			reported := strings.Join(doc.Warnings, "\n")
			for _, k := range doc.Cores {
				if k.Path == c.core {
					reported += "\n" + k.Path + ": " + k.Error
				}
			}
			// A file not named like a core that is no ELF core is not one
			// to summarize: summarize says it found none.
			wantSum := wantError[c.name]
			switch c.name {
			case "empty", "not-elf", "unreadable", "directory":
				wantSum = "no core found in " + c.core
			case "nonexistent":
				wantSum = "stat " + c.core + ": no such file or directory"
			}
			if wantSum == "" {
				wantSum = c.core + ": " // its summary, with or without an error
			}
			if !strings.Contains(reported, wantSum) {
				t.Errorf("summarize does not report %s as %q:\n%s", c.core, wantSum, reported)
			}
			// A DAP session: launch answers (success or an error), the
			// session ends cleanly.
			codes[4] = dapOnBadCore(t, c)
			if codes != want {
				t.Errorf("exit codes of inspect, bt, tasks, summarize, dap launch: %v, want %v", codes, want)
			}
		})
	}
	for _, p := range inputs {
		if hash(p) != sums[p] {
			t.Errorf("%s was modified", p)
		}
	}
	t.Logf("peak RSS of any run: %d MiB (bound %d MiB)", peakRSS.Load()>>10, maxRSS>>10)
}

// dapOnBadCore runs initialize → launch → configurationDone → threads →
// disconnect; it returns 0 when launch succeeded, 1 when it answered an
// error.
func dapOnBadCore(t *testing.T, c badCase) int {
	t.Helper()
	var in bytes.Buffer
	seq := 0
	send := func(cmd string, args string) {
		seq++
		body := fmt.Sprintf(`{"seq":%d,"type":"request","command":%q,"arguments":%s}`, seq, cmd, args)
		fmt.Fprintf(&in, "Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	launch := fmt.Sprintf(`{"coreFile":%q}`, c.core)
	for i := 0; i+1 < len(c.args); i += 2 {
		if c.args[i] == "--exe" {
			launch = fmt.Sprintf(`{"coreFile":%q,"program":%q}`, c.core, c.args[i+1])
		}
	}
	send("initialize", `{"adapterID":"dsecore"}`)
	send("launch", launch)
	send("configurationDone", `{}`)
	send("threads", `{}`)
	send("stackTrace", `{"threadId":1}`)
	send("disconnect", `{}`)
	code, out, stderr := runBoundedAs(t, c.asNobody, &in, "dap")
	if code != 0 {
		t.Errorf("dsecore dap exited %d: %s", code, stderr)
	}
	i := strings.Index(out, `"command":"launch"`)
	if i < 0 {
		t.Errorf("dap: no launch response:\n%s", out)
		return -1
	}
	if !strings.Contains(out, `"command":"disconnect"`) {
		t.Errorf("dap: no disconnect response")
	}
	resp := out[max(0, strings.LastIndex(out[:i], "{")):]
	if strings.HasPrefix(resp, `{"seq"`) && strings.Contains(resp[:min(len(resp), 200)], `"success":false`) {
		if !strings.Contains(out, filepath.Base(c.core)) {
			t.Errorf("dap: the launch error does not name the file:\n%s", out)
		}
		if want := wantError[c.name]; !strings.Contains(out, want) {
			t.Errorf("dap: the launch error does not say %q:\n%s", want, out)
		}
		return 1
	}
	return 0
}

// TestHostileMemory: a core whose lists loop, lead into unmapped memory or
// hold 200,000 elements, whose stack is 100,000 frames deep, and one of
// whose threads has frame pointers that loop: every walk is bounded and
// says why it stopped.
func TestHostileMemory(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, "hostile")
	code, out, stderr := runBounded(t, nil, "bt", sc.Core, "--all")
	if code != 0 || !strings.Contains(out, "too many frames: more than 512") || strings.Count(out, "descend at") != 512 {
		t.Errorf("bt on 100,000 frames: exit %d, %d frames\n%s", code, strings.Count(out, "descend at"), stderr)
	}
	// The thread whose frame pointers loop: its own frame, then the stop.
	var doc struct {
		Threads []struct {
			LWP    int    `json:"lwp"`
			Error  string `json:"error"`
			Frames []struct {
				Function string `json:"function"`
				File     string `json:"file"`
			} `json:"frames"`
		} `json:"threads"`
	}
	_, js, _ := runBounded(t, nil, "bt", sc.Core, "--all", "--json")
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	lwp := int(sc.Expected["fp_loop_lwp"].(float64))
	found := false
	for _, th := range doc.Threads {
		if th.LWP != lwp {
			continue
		}
		found = true
		// gdb: "#0 hostile_fp_loop ()" (no line rows for top-level asm),
		// "previous frame identical to this frame (corrupt stack?)".
		if len(th.Frames) == 0 || len(th.Frames) > 3 || th.Frames[0].Function != "hostile_fp_loop" || th.Frames[0].File != "" ||
			!strings.Contains(th.Error, "previous frame identical to this frame") {
			t.Errorf("the frame-pointer loop: %+v", th)
		}
	}
	if !found {
		t.Errorf("no thread LWP %d", lwp)
	}
	if code, _, stderr := runBounded(t, nil, "inspect", sc.Core); code != 0 {
		t.Errorf("inspect: exit %d: %s", code, stderr)
	}
	c := startDAP(t)
	c.ok("initialize", map[string]any{"adapterID": "x"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "maxElements": 500})
	c.ok("configurationDone", nil)
	st := c.ok("stackTrace", map[string]any{"threadId": sc.Expected["pid"], "startFrame": 0, "levels": 1}).(*dap.StackTraceResponse)
	if st.Body.TotalFrames != 512 {
		t.Errorf("totalFrames %d", st.Body.TotalFrames)
	}
	eval := func(expr string) *dap.EvaluateResponse {
		r := c.call("evaluate", map[string]any{"expression": expr, "frameId": st.Body.StackFrames[0].Id, "context": "watch"})
		if !r.GetResponse().Success {
			t.Fatalf("evaluate %s: %s", expr, r.GetResponse().Message)
		}
		return r.(*dap.EvaluateResponse)
	}
	for _, tc := range []struct{ expr, want string }{
		{"cyc_node->objs", "loop"},
		{"wild_node->objs", "unreadable"},
		{"big_node->objs", "walk stopped at the limit of 500 elements"},
	} {
		r := eval(tc.expr)
		if !strings.Contains(r.Body.Result, tc.want) {
			t.Errorf("%s = %q, want it to say %q", tc.expr, r.Body.Result, tc.want)
		}
		if r.Body.VariablesReference == 0 {
			continue
		}
		v := c.ok("variables", map[string]any{"variablesReference": r.Body.VariablesReference, "start": 0, "count": 100}).(*dap.VariablesResponse)
		if len(v.Body.Variables) == 0 || len(v.Body.Variables) > 100 {
			t.Errorf("%s: %d children for a page of 100", tc.expr, len(v.Body.Variables))
		}
		t.Logf("%s = %s (%d children in the first page, indexed %d)", tc.expr, r.Body.Result, len(v.Body.Variables), r.Body.IndexedVariables)
	}
}
