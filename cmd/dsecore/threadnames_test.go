package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-dap"
)

// entryNames: what the real ceph-mon's threads (by the name Ceph gave them,
// threads.txt, which the core does not hold) are named after in the core:
// their entry routine.
var entryNames = []struct{ real, ours string }{
	{"admin_socket", "AdminSocket::entry"},
	{"ms_dispatch", "DispatchQueue::entry"},
	{"ms_local", "DispatchQueue::run_local_delivery"},
	{"msgr-worker-", "EventCenter::process_events"},
	{"safe_timer", "CommonSafeTimer<std::mutex>::timer_thread"},
	{"fn_monstore", "Finisher::finisher_thread_entry"},
	{"fin", "Finisher::finisher_thread_entry"},
	{"log", "ceph::logging::Log::entry"},
	{"signal_handler", "SignalHandler::entry"},
	{"cpu_tp", "ThreadPool::worker"},
	{"service", "ceph::common::CephContextServiceThread::entry"},
	{"OpHistorySvc", "OpHistoryServiceThread::entry"},
}

// TestCephCorpusThreadNames: on every real-daemon core, no thread is left
// a bare LWP: one in Ceph's handler (the crashing one) is named as the
// handler named it (the thread's real name), the main thread by the process's name, the others
// after their entry routine, the same in the text backtrace, the JSON and
// the DAP's threads.
func TestCephCorpusThreadNames(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real-daemon corpus starts Ceph daemons")
	}
	corpus := cephCorpus(t)
	for _, name := range cephScenarios {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(corpus, name)
			core := filepath.Join(dir, "core")
			var truth cephTruth
			readJSONFile(t, filepath.Join(dir, "truth.json"), &truth)
			real := readThreadNames(t, filepath.Join(dir, "threads.txt"))
			doc := runBt(t, "/usr/bin/ceph-mon", core)
			crashed := 0
			for _, th := range doc.Threads {
				if th.Crashed {
					crashed = th.LWP
				}
			}
			want := map[int]string{}
			for lwp, r := range real {
				switch {
				case lwp == truth.PID:
					want[lwp] = "ceph-mon"
				case lwp == crashed && name != "second-fault" || lwp == truth.HandlerLWP:
					// Ceph's handler's message names it (second-fault's
					// crashed thread found SIGSEGV reset and died without one).
					want[lwp] = r
				default:
					for _, e := range entryNames {
						if r == e.real || strings.HasSuffix(e.real, "-") && strings.HasPrefix(r, e.real) {
							want[lwp] = e.ours
						}
					}
				}
			}
			faces := map[string]map[int]string{"JSON": {}, "text": {}, "DAP": {}}
			for _, th := range doc.Threads {
				faces["JSON"][th.LWP] = th.Name
			}
			out, err := exec.Command(dsecoreBin, "bt", core, "--exe", "/usr/bin/ceph-mon", "--all").Output()
			if err != nil {
				t.Fatalf("dsecore bt --all: %v", err)
			}
			for _, l := range strings.Split(string(out), "\n") {
				var lwp int
				if _, err := fmt.Sscanf(l, "Thread LWP %d", &lwp); err == nil {
					n := ""
					if i, j := strings.Index(l, `"`), strings.LastIndex(l, `"`); j > i {
						n, _ = strconv.Unquote(l[i : j+1])
					}
					faces["text"][lwp] = n
				}
			}
			c := startDAP(t)
			c.ok("initialize", map[string]any{"adapterID": "dsecore"})
			c.ok("launch", map[string]any{"coreFile": core, "program": "/usr/bin/ceph-mon"})
			c.waitEvent("initialized")
			c.ok("configurationDone", nil)
			c.waitEvent("stopped")
			for _, th := range c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads {
				pre := fmt.Sprintf("LWP %d", th.Id)
				if strings.HasPrefix(th.Name, pre) {
					faces["DAP"][th.Id] = strings.TrimPrefix(strings.TrimPrefix(th.Name, pre), " ")
				}
			}
			for face, got := range faces {
				if len(got) != len(real) {
					t.Errorf("%s: %d threads, the daemon had %d", face, len(got), len(real))
				}
				named := 0
				for lwp := range real {
					switch {
					case got[lwp] == "":
						t.Errorf("%s: LWP %d (%s) has no name", face, lwp, real[lwp])
					case want[lwp] != "" && got[lwp] != want[lwp]:
						t.Errorf("%s: LWP %d (%s) named %q, want %q", face, lwp, real[lwp], got[lwp], want[lwp])
					default:
						named++
					}
				}
				t.Logf("%s: %d of %d threads named (%d as the table says)", face, named, len(real), len(want))
			}
		})
	}
}

// readThreadNames reads corpus.sh's threads.txt: "LWP name" lines.
func readThreadNames(t *testing.T, path string) map[int]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lwp, name, ok := strings.Cut(sc.Text(), " ")
		if n, err := strconv.Atoi(lwp); ok && err == nil {
			out[n] = name
		}
	}
	return out
}
