package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// fleetUID is the unprivileged user the agents' analyses run as (no
// account needed: the package's dsecore user in production).
const fleetUID = "64999:64999"

// node is one "node" of the fleet test: its core directory (a
// core_pattern directory), its Ceph crash directory (ceph-crash watches
// it), its agent's state and work directories, its agent process.
type node struct {
	name, dir, cores, crash, state, work string
	args                                 []string
	agent                                *exec.Cmd
	log                                  *bytes.Buffer
}

// TestFleet: a real mon + mgr on loopback, two nodes, each with its crash
// directory and its own dsecore agent: node A's crash directory watched by
// the real ceph-crash (as Ceph's packages run it: dropped to the ceph
// user), node B's agent posting itself (--post). Fixture cores and
// their daemons' reports arrive, a real ceph-mon is crashed on node A
// (its handler writes the report into A's crash directory, the kernel the
// core into A's core directory), a daemon's report ceph-crash posted
// before its core came (the agent replaces it in the cluster), and a file
// named like a core that is none. Each agent is killed once in the middle (A after writing a report
// before recording it, B while its analysis runs: a test hook stops each
// at that point) and started again. Then, polled for, not slept for: the
// cluster lists each crash exactly once (`ceph crash ls`), each with
// dsecore's verdict and real fault (`ceph crash info`), `ceph crash stat`
// counts them, and `dsecore summarize --ceph` groups them across both
// nodes.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the fleet test starts Ceph daemons")
	}
	for _, tool := range []string{"ceph-mon", "ceph-mgr", "ceph", "ceph-crash", "monmaptool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/setup.sh installs ceph-mon, ceph-mgr, ceph-common, ceph-base)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the fleet test runs as root (the agents drop to %s, ceph-crash to ceph)", fleetUID)
	}
	cephUser, err := user.Lookup("ceph")
	if err != nil {
		t.Fatalf("no ceph user (ceph-common creates it): %v", err)
	}
	cuid, _ := strconv.Atoi(cephUser.Uid)
	cgid, _ := strconv.Atoi(cephUser.Gid)
	root := fixture.RepoRoot()
	set := fixture.Get(t)
	conf := startCephCluster(t, root)
	// ceph-crash runs as ceph: it reads the cluster's configuration.
	if err := os.Chmod(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	// The analysis child (uid 64999) executes the test's dsecore.
	if err := os.Chmod(filepath.Dir(dsecoreBin), 0o755); err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp("", "dsecore-fleet.")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	ceph := func(args ...string) ([]byte, error) {
		return exec.Command("ceph", append([]string{"-c", conf, "--connect-timeout", "30"}, args...)...).Output()
	}

	mk := func(name string, cephCrash bool, extra ...string) *node {
		n := &node{name: name, dir: filepath.Join(base, name)}
		n.cores, n.crash, n.state, n.work = filepath.Join(n.dir, "cores"), filepath.Join(n.dir, "crash"), filepath.Join(n.dir, "state"), filepath.Join(n.dir, "work")
		for _, d := range []string{n.cores, filepath.Join(n.crash, "posted"), n.state, n.work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// As /var/lib/ceph/crash: the daemons (ceph) write there, and
		// ceph-crash, as ceph, moves what it posted to posted/.
		for _, d := range []string{n.cores, n.crash, filepath.Join(n.crash, "posted")} {
			os.Chown(d, cuid, cgid)
		}
		n.args = append([]string{"agent", "--core-dir", n.cores, "--crash-dir", n.crash, "--state-dir", n.state, "--work-dir", n.work,
			"--user", fleetUID, "--node", name, "--interval", "200ms", "--settle", "1s", "--hold-timeout", "60s", "--conf", conf}, extra...)
		n.log = &bytes.Buffer{}
		if !cephCrash {
			return n
		}
		// ceph-crash, every 1.2 s (--delay is in minutes).
		cc := exec.Command("ceph-crash", "-p", n.crash, "-d", "0.02", "-n", "client.admin")
		cc.Env = append(os.Environ(), "CEPH_CONF="+conf)
		var cclog bytes.Buffer
		cc.Stdout, cc.Stderr = &cclog, &cclog
		if err := cc.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cc.Process.Signal(syscall.SIGTERM)
			cc.Wait()
			if t.Failed() {
				t.Logf("ceph-crash of %s:\n%s", name, tailOf(cclog.String(), 3000))
			}
		})
		return n
	}
	// Node A as Ceph's packages set a node up: ceph-crash posts what is in
	// its crash directory. Node B without ceph-crash: its agent posts.
	a := mk("nodeA", true)
	b := mk("nodeB", false, "--post")

	start := func(n *node, stopAt string) {
		t.Helper()
		n.agent = exec.Command(dsecoreBin, n.args...)
		n.agent.Stdout, n.agent.Stderr = n.log, n.log
		n.agent.Env = append(os.Environ(), "DSECORE_AGENT_TEST_STOP_AT="+stopAt)
		if err := n.agent.Start(); err != nil {
			t.Fatal(err)
		}
	}
	stopAgent := func(n *node) {
		if n.agent != nil && n.agent.ProcessState == nil {
			n.agent.Process.Signal(syscall.SIGTERM)
			n.agent.Wait()
		}
	}
	t.Cleanup(func() {
		for _, n := range []*node{a, b} {
			stopAgent(n)
			if t.Failed() {
				t.Logf("agent of %s:\n%s", n.name, tailOf(n.log.String(), 6000))
			}
		}
	})
	start(a, "written")
	start(b, "analysing")

	// Arrivals. A daemon's report appears whole (renamed in, as its
	// handler's mkdir+writes would be seen by a scan that waits for
	// done), then its core (renamed in: complete, as systemd-coredump's).
	var coresIn int
	ownIDs := map[string]string{} // the daemons' crash_ids: core → id
	arrive := func(n *node, scenario, coreName string, withReport bool) {
		t.Helper()
		sc := set.Scenario(t, scenario)
		if withReport {
			ents, _ := filepath.Glob(filepath.Join(sc.Dir, "crash", "*"))
			if len(ents) != 1 {
				t.Fatalf("%s: %d crash entries", scenario, len(ents))
			}
			stage := filepath.Join(n.dir, "stage-"+filepath.Base(ents[0]))
			if out, err := exec.Command("cp", "-a", ents[0], stage).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			exec.Command("chown", "-R", "ceph:ceph", stage).Run()
			if err := os.Rename(stage, filepath.Join(n.crash, filepath.Base(ents[0]))); err != nil {
				t.Fatal(err)
			}
			ownIDs[filepath.Join(n.cores, coreName)] = filepath.Base(ents[0])
		}
		stage := filepath.Join(n.dir, "stage-"+coreName)
		if out, err := exec.Command("cp", sc.Core, stage).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if err := os.Rename(stage, filepath.Join(n.cores, coreName)); err != nil {
			t.Fatal(err)
		}
		coresIn++
	}
	arrive(b, fixture.FieldCrash, "core.field-crash", true)
	arrive(a, "field-crash-2", "core.field-crash-2", true)
	arrive(b, fixture.Abort, "core.abort", true)
	arrive(b, fixture.UseAfterFree, "core.use-after-free", false) // no report of its own: a new one
	// ceph-crash was first: the daemon's report is in the cluster and in
	// A's posted/ before its core is analysed. The agent replaces it in
	// the cluster (crash rm, crash post) with the analysis in it.
	{
		sc := set.Scenario(t, fixture.DoubleFree)
		ents := mustGlob(t, filepath.Join(sc.Dir, "crash", "*"))
		if len(ents) != 1 {
			t.Fatalf("double-free: %d crash entries", len(ents))
		}
		if out, err := exec.Command("ceph", "-c", conf, "--connect-timeout", "30", "crash", "post", "-i", filepath.Join(ents[0], "meta")).CombinedOutput(); err != nil {
			t.Fatalf("ceph crash post: %v\n%s", err, out)
		}
		stage := filepath.Join(a.dir, "stage-posted")
		if out, err := exec.Command("cp", "-a", ents[0], stage).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		exec.Command("chown", "-R", "ceph:ceph", stage).Run()
		if err := os.Rename(stage, filepath.Join(a.crash, "posted", filepath.Base(ents[0]))); err != nil {
			t.Fatal(err)
		}
		coreStage := filepath.Join(a.dir, "stage-core.double-free")
		if out, err := exec.Command("cp", sc.Core, coreStage).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if err := os.Rename(coreStage, filepath.Join(a.cores, "core.double-free")); err != nil {
			t.Fatal(err)
		}
		ownIDs[filepath.Join(a.cores, "core.double-free")] = filepath.Base(ents[0])
		coresIn++
	}
	// Named like a core, not one: reported with the reason.
	if err := os.WriteFile(filepath.Join(b.cores, "core.garbage"), []byte("not a core at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	coresIn++

	// A real ceph-mon on node A (its own one-monitor cluster, as ceph, its
	// crash dir A's, its cwd A's core directory: core_pattern "core"),
	// killed with SIGSEGV: Ceph's handler writes its report, the kernel
	// the core.
	monDir := filepath.Join(base, "mon")
	script := `set -euo pipefail
source "$1/fixtures/ceph/cluster.sh"
dir=$2 crash=$3 cores=$4
ceph_conf "$dir" "$(free_port)"
rm -rf "$dir/crash" "$dir/cwd"
ln -s "$crash" "$dir/crash"
ln -s "$cores" "$dir/cwd"
chown -R ceph:ceph "$dir"
(ulimit -c unlimited && exec ceph-mon -f -i a -c "$dir/ceph.conf" --setuser ceph --setgroup ceph >"$dir/mon.stdout" 2>"$dir/mon.stderr") &
pid=$!
wait_for "ceph-mon's admin socket" 60 ceph -c "$dir/ceph.conf" --admin-daemon "$dir/run/ceph-mon.a.asok" version
kill -SEGV "$pid"
wait "$pid" || true
echo "$pid"
`
	out, err := exec.Command("bash", "-c", script, "mon-crash", root, monDir, a.crash, a.cores).CombinedOutput()
	if err != nil {
		t.Fatalf("crashing ceph-mon: %v\n%s", err, out)
	}
	monPID := strings.TrimSpace(lastLine(string(out)))
	coresIn++
	t.Logf("ceph-mon %s crashed on nodeA", monPID)

	// Each agent stops at its hook's point on its first core: killed
	// there (SIGKILL: nothing of it runs on), started again.
	for _, n := range []*node{a, b} {
		stopped := filepath.Join(n.state, "stopped-at")
		waitFor(t, 5*time.Minute, "the agent of "+n.name+" to reach its test hook", func() bool {
			_, err := os.Stat(stopped)
			return err == nil
		})
		at, _ := os.ReadFile(stopped)
		t.Logf("%s's agent stopped at %s; killed", n.name, strings.TrimSpace(string(at)))
		n.agent.Process.Kill()
		n.agent.Wait()
		os.Remove(stopped)
		start(n, "")
	}

	// Until every core is done (or failed) on both nodes, nothing is held,
	// and every node's crash directory is posted.
	type coreState struct {
		Status  string `json:"status"`
		CrashID string `json:"crash_id"`
		Reason  string `json:"reason"`
	}
	var states map[string]coreState
	waitFor(t, 8*time.Minute, "both agents to finish every core and ceph-crash to post", func() bool {
		states = map[string]coreState{}
		for _, n := range []*node{a, b} {
			var st struct {
				Cores map[string]coreState `json:"cores"`
				Holds map[string]any       `json:"holds"`
			}
			bs, err := os.ReadFile(filepath.Join(n.state, "state.json"))
			if err != nil || json.Unmarshal(bs, &st) != nil || len(st.Holds) > 0 {
				return false
			}
			for p, c := range st.Cores {
				if c.Status != "done" && c.Status != "failed" {
					return false
				}
				states[p] = c
			}
			ents, _ := os.ReadDir(n.crash)
			for _, e := range ents {
				if e.Name() != "posted" {
					return false // ceph-crash has not posted it yet
				}
			}
		}
		return len(states) == coresIn
	})
	// ceph-mon's own report, as its handler wrote it (now in posted/).
	monCore := filepath.Join(a.cores, "core")
	for _, m := range mustGlob(t, filepath.Join(a.crash, "posted", "*", "meta")) {
		var meta map[string]any
		readJSONFile(t, m, &meta)
		if meta["process_name"] == "ceph-mon" {
			ownIDs[monCore] = meta["crash_id"].(string)
		}
	}
	if ownIDs[monCore] == "" {
		t.Fatalf("no report of ceph-mon's own in node A's crash directory")
	}

	lsOut, err := ceph("crash", "ls", "--format", "json")
	if err != nil {
		t.Fatalf("ceph crash ls: %v", err)
	}
	var ls []map[string]any
	if err := json.Unmarshal(lsOut, &ls); err != nil {
		t.Fatal(err)
	}
	byCore := map[string][]string{} // dsecore_core → crash_ids
	byID := map[string]map[string]any{}
	for _, c := range ls {
		id, _ := c["crash_id"].(string)
		byID[id] = c
		core, _ := c["dsecore_core"].(string)
		byCore[core] = append(byCore[core], id)
	}
	dups, lost := 0, 0
	for core, st := range states {
		ids := byCore[core]
		switch {
		case len(ids) == 0:
			lost++
			t.Errorf("%s (%s, crash %s): not in ceph crash ls", core, st.Status, st.CrashID)
		case len(ids) > 1:
			dups += len(ids) - 1
			t.Errorf("%s: %d crashes in ceph crash ls: %v", core, len(ids), ids)
		}
		if own := ownIDs[core]; own != "" && (len(ids) != 1 || ids[0] != own) {
			t.Errorf("%s: its daemon's report is %s; the cluster has %v for it", core, own, ids)
		}
	}
	if len(ls) != coresIn {
		t.Errorf("ceph crash ls lists %d crashes; %d cores came (one crash each)", len(ls), coresIn)
	}
	t.Logf("cores in: %d; crashes in ceph crash ls: %d; duplicates: %d; lost: %d (after killing both agents once)", coresIn, len(ls), dups, lost)

	// ceph crash info: dsecore's verdict and the real fault.
	info := func(id string) map[string]any {
		t.Helper()
		b, err := ceph("crash", "info", id)
		if err != nil {
			t.Fatalf("ceph crash info %s: %v", id, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	want := map[string]struct{ fault, verdict string }{
		"core.field-crash":    {"SIGSEGV (SEGV_MAPERR) at 0x0", "NULL pointer read in boost::intrusive::list_node_traits"},
		"core.field-crash-2":  {"SIGSEGV (SEGV_MAPERR) at 0x0", "NULL pointer read in boost::intrusive::list_node_traits"},
		"core.abort":          {"SIGABRT", "SIGABRT raised by the thread itself"},
		"core.use-after-free": {"SIGSEGV", ""},
		"core.double-free":    {"SIGABRT", "SIGABRT raised by the thread itself (abort), not caused by an instruction. abort() by glibc's malloc"},
		"core":                {"SIGSEGV", ""},
	}
	for core, st := range states {
		ids := byCore[core]
		if len(ids) != 1 {
			continue
		}
		doc := info(ids[0])
		base := filepath.Base(core)
		if base == "core.garbage" {
			if e, _ := doc["dsecore_error"].(string); st.Status != "failed" || e == "" {
				t.Errorf("%s: status %s, dsecore_error %q: want the reason it was not analysed", core, st.Status, e)
			} else {
				t.Logf("%s: reported with its reason: %s", base, e)
			}
			continue
		}
		w := want[base]
		fault, _ := doc["dsecore_real_fault"].(string)
		verdict, _ := doc["dsecore_verdict"].(string)
		if st.Status != "done" || !strings.HasPrefix(fault, w.fault) || verdict == "" || !strings.HasPrefix(verdict, w.verdict) {
			t.Errorf("%s: status %s (%s); ceph crash info %s: real fault %q, verdict %q; want %q, %q…", core, st.Status, st.Reason, ids[0], fault, verdict, w.fault, w.verdict)
		}
		if doc["stack_sig"] == nil || doc["dsecore_signature"] == nil {
			t.Errorf("%s: stack_sig %v, dsecore_signature %v", core, doc["stack_sig"], doc["dsecore_signature"])
		}
		t.Logf("%s → %s: %s; %s", base, ids[0], fault, firstLineOf(verdict))
	}
	if mon := byID[ownIDs[monCore]]; mon == nil || mon["entity_name"] != "mon.a" || mon["dsecore_node"] != "nodeA" {
		t.Errorf("ceph-mon's crash in the cluster: %v", mon)
	}

	stat, err := ceph("crash", "stat")
	if err != nil || !strings.Contains(string(stat), fmt.Sprintf("%d crashes recorded", coresIn)) {
		t.Errorf("ceph crash stat: %v\n%s", err, stat)
	}

	// The cluster-wide view.
	var doc batch.Summary
	if err := json.Unmarshal(run(t, "summarize", "--ceph", "--conf", conf, "--format", "json"), &doc); err != nil {
		t.Fatalf("summarize --ceph --format json: %v", err)
	}
	if len(doc.Cores) != coresIn {
		t.Errorf("summarize --ceph: %d crashes, want %d", len(doc.Cores), coresIn)
	}
	var field *struct{ nodes []string }
	for _, g := range doc.Groups {
		t.Logf("group %s: %d crashes on %v, first %s, last %s, builds %v: %s", short(g.Signature, 15), g.Count, g.Nodes,
			g.First.Format(time.RFC3339), g.Last.Format(time.RFC3339), g.Builds, firstLineOf(g.Verdict))
		if len(g.Frames) > 2 && g.Frames[2] == "dm_hash_node_t::clear" {
			field = &struct{ nodes []string }{g.Nodes}
			if g.Count != 3 || strings.Join(g.Nodes, ",") != "nodeA,nodeB" || len(g.Builds) == 0 || g.First.IsZero() {
				t.Errorf("the field crash's group: %d crashes on %v, builds %v: want 3 (field-crash, field-crash-2, use-after-free) on nodeA and nodeB", g.Count, g.Nodes, g.Builds)
			}
		}
	}
	if field == nil {
		t.Errorf("summarize --ceph: no group of dm_hash_node_t::clear")
	}
	if doc.Errors != 1 {
		t.Errorf("summarize --ceph: %d errors, want 1 (the garbage core)", doc.Errors)
	}
	html := filepath.Join(base, "cluster.html")
	run(t, "summarize", "--ceph", "--conf", conf, "--format", "html", "--out", html)
	if b, _ := os.ReadFile(html); !bytes.Contains(b, []byte("nodeA")) || !bytes.Contains(b, []byte("dm_hash_node_t::clear")) {
		t.Errorf("summarize --ceph --format html: no nodeA or dm_hash_node_t::clear in %d bytes", len(b))
	}
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFor polls cond every 200 ms until it holds, failing the test after
// limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
