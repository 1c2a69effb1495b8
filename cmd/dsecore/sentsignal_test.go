package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-dap"
)

// TestCephCorpusSentSignal: a signal that was sent (kill -SEGV: SI_USER;
// ceph_assert and ceph_abort: abort()'s raise, SI_TKILL; no CPU exception
// in the sigcontext) has no faulting instruction in the analysis document,
// its text or the DAP's Fault analysis scope: where the thread was when it
// arrived is said as such. A real fault (null-load) keeps its faulting
// instruction.
func TestCephCorpusSentSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real-daemon corpus starts Ceph daemons")
	}
	corpus := cephCorpus(t)
	for _, c := range []struct {
		name string
		sent bool
	}{{"kill-segv", true}, {"assert", true}, {"abort", true}, {"null-load", false}} {
		t.Run(c.name, func(t *testing.T) {
			core := filepath.Join(corpus, c.name, "core")
			doc := inspectDoc(t, core)
			f := doc.Analysis.Fault
			if f == nil {
				t.Fatal("no analysis.fault")
			}
			if f.Sent != c.sent || c.sent && (f.Instruction != "" || f.Listing != "" || f.InterruptedListing == "") ||
				!c.sent && (f.Instruction == "" || f.Listing == "" || f.InterruptedListing != "") {
				t.Errorf("analysis.fault: sent %v, instruction %q, listing %d bytes, interrupted_listing %d bytes", f.Sent, f.Instruction, len(f.Listing), len(f.InterruptedListing))
			}
			out, err := exec.Command(dsecoreBin, "inspect", core).Output()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "Faulting instruction") == c.sent {
				t.Errorf("inspect's text says \"Faulting instruction\": %v, the signal was sent: %v", !c.sent, c.sent)
			}
			// The DAP's Fault analysis scope.
			dc := startDAP(t)
			dc.ok("initialize", map[string]any{"adapterID": "dsecore"})
			dc.ok("launch", map[string]any{"coreFile": core, "program": "/usr/bin/ceph-mon"})
			dc.waitEvent("initialized")
			dc.ok("configurationDone", nil)
			stopped := dc.waitEvent("stopped").(*dap.StoppedEvent)
			st := dc.ok("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "levels": 40}).(*dap.StackTraceResponse)
			ref := 0
			for _, fr := range st.Body.StackFrames {
				for _, sc := range dc.ok("scopes", map[string]any{"frameId": fr.Id}).(*dap.ScopesResponse).Body.Scopes {
					if sc.Name == "Fault analysis" {
						ref = sc.VariablesReference
					}
				}
				if ref != 0 {
					break
				}
			}
			if ref == 0 {
				t.Fatal("no frame of the crashing thread has the Fault analysis scope")
			}
			vars := dc.variables(ref)
			var names []string
			for n := range vars {
				names = append(names, n)
			}
			_, fault := vars["fault"]
			_, signal := vars["signal (sent: no faulting instruction)"]
			if fault == c.sent || signal != c.sent {
				t.Errorf("Fault analysis scope: %v (the signal was sent: %v)", names, c.sent)
			}
			if c.sent {
				kids := dc.variables(vars["signal (sent: no faulting instruction)"].VariablesReference)
				if _, ok := kids["instruction"]; ok || kids["interrupted_at"].Value == "" || kids["interrupted_listing"].Value == "" {
					t.Errorf("the sent signal's entries: %v", kids)
				}
			} else {
				kids := dc.variables(vars["fault"].VariablesReference)
				if kids["instruction"].Value == "" {
					t.Errorf("the fault's entries: %v", kids)
				}
			}
		})
	}
}
