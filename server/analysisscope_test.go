package server

import (
	"encoding/json"

	"fmt"
	"github.com/dsecore/dsecore/report"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// scopeNode is one entry of the Fault analysis scope as the client sees
// it, its children expanded.
type scopeNode struct {
	name, value string
	kids        []*scopeNode
}

// expandScope reads every entry under ref, depth first.
func (c *client) expandScope(ref int) []*scopeNode {
	c.t.Helper()
	vs := c.ok("variables", map[string]any{"variablesReference": ref}).(*dap.VariablesResponse).Body.Variables
	out := make([]*scopeNode, 0, len(vs))
	for _, v := range vs {
		n := &scopeNode{name: v.Name, value: v.Value}
		if v.VariablesReference != 0 {
			n.kids = c.expandScope(v.VariablesReference)
		}
		out = append(out, n)
	}
	return out
}

// The analysis document's members the scope does not show: the signal's
// handling and a nested fault (in the console and the document), a list
// walk's findings as records (the scope lists their text: findings).
var notInScope = map[string]bool{"handling": true, "nested": true, "found": true}

// The lists the scope shows even when empty ("[0]": searched, none
// found); any other empty member has no entry.
var listedEmpty = map[string]bool{".evidence": true, ".memory.heap": true, ".memory.holders": true}

var (
	countLabel = regexp.MustCompile(`^\[(\d+)\]$`) // an array's length
	sizeLabel  = regexp.MustCompile(`^\{(\d+)\}$`) // a map's
	indexName  = regexp.MustCompile(`^\[(\d+)\]`)  // an element's name: "[2]", "[2] role"
)

// emptyJSON is what the document omits or leaves empty: the scope must
// show no entry for it.
func emptyJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func scalarJSON(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// compareScope holds the scope's entries under path to the document's
// value doc (the JSON that dsecore/analysis and inspect --json print: the
// same facts by another renderer): every entry is a member of the
// document with the same value (a scalar's text, an array's [N] and its
// elements by index, a map's {N} and its entries by key), and every
// non-empty member of the document has its entry; an empty one (0, "",
// false, [], absent) has none unless the scope shows its value as the
// document has it.
func compareScope(t *testing.T, path string, kids []*scopeNode, doc map[string]any) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range kids {
		key := k.name
		switch {
		case strings.HasPrefix(key, "signal (sent"): // a sent signal's entry
			key = "fault"
			if f, _ := doc["fault"].(map[string]any); f == nil || f["sent"] != true {
				t.Errorf("%s: %q, the document's fault is not sent", path, k.name)
			}
			if f, _ := doc["fault"].(map[string]any); f != nil {
				f["sent"] = false // said by the entry's name
			}
		case key == "interrupted_at":
			key = "pc"
		}
		p := path + "." + key
		if key == "waits" && path == "" { // the hang analysis', compared by TestHangInChinese and the waits tests
			continue
		}
		if key == "log_line" { // a timeline step's file:line
			if want := fmt.Sprintf("%v:%v", doc["file"], doc["line"]); k.value != want {
				t.Errorf("%s = %q, the document's file and line: %s", p, k.value, want)
			}
			seen["file"], seen["line"] = true, true
			continue
		}
		v, ok := doc[key]
		if !ok {
			t.Errorf("%s = %q: the document has no %s", p, k.value, key)
			continue
		}
		seen[key] = true
		compareEntry(t, p, k, v)
	}
	for key, v := range doc {
		if !seen[key] && !notInScope[key] && !emptyJSON(v) {
			t.Errorf("%s.%s = %v in the document, not in the scope", path, key, v)
		}
	}
}

func compareEntry(t *testing.T, p string, k *scopeNode, v any) {
	t.Helper()
	if emptyJSON(v) {
		if a, ok := v.([]any); ok && a != nil && k.value == "[0]" && len(k.kids) == 0 && listedEmpty[p] {
			return // a list the scope shows when empty: [0]
		}
		if s, ok := scalarJSON(v); !ok || k.value != s || len(k.kids) > 0 {
			t.Errorf("%s = %q (%d entries): empty in the document (%v)", p, k.value, len(k.kids), v)
		}
		return
	}
	switch x := v.(type) {
	case []any:
		if m := countLabel.FindStringSubmatch(k.value); m != nil && m[1] != strconv.Itoa(len(x)) {
			t.Errorf("%s = %s, the document has %d", p, k.value, len(x))
		}
		if len(k.kids) != len(x) {
			t.Errorf("%s: %d entries, the document has %d", p, len(k.kids), len(x))
			return
		}
		for i, kid := range k.kids {
			m := indexName.FindStringSubmatch(kid.name)
			if m == nil || m[1] != strconv.Itoa(i) {
				t.Errorf("%s: entry %d named %q", p, i, kid.name)
				continue
			}
			if step, ok := x[i].(map[string]any); ok && strings.HasSuffix(p, ".timeline") {
				// A step's name: its index, then its time or "at dump".
				want := fmt.Sprintf("[%d]", i)
				if tm, _ := step["time"].(string); tm != "" {
					want += " " + tm
				} else if step["at_dump"] == true {
					want += " at dump"
				}
				if kid.name != want {
					t.Errorf("%s[%d] named %q, the document's step: %q", p, i, kid.name, want)
				}
			}
			if pair, ok := x[i].([]any); ok && len(kid.kids) == 0 { // two log lines at once: "a | b"
				var ss []string
				for _, e := range pair {
					s, _ := scalarJSON(e)
					ss = append(ss, s)
				}
				if want := strings.Join(ss, " | "); kid.value != want {
					t.Errorf("%s[%d] = %q, the document: %q", p, i, kid.value, want)
				}
				continue
			}
			compareEntry(t, fmt.Sprintf("%s[%d]", p, i), kid, x[i])
		}
	case map[string]any:
		if m := sizeLabel.FindStringSubmatch(k.value); m != nil && m[1] != strconv.Itoa(len(x)) {
			t.Errorf("%s = %s, the document has %d entries", p, k.value, len(x))
		}
		if strings.HasSuffix(p, ".holder_search") {
			if want := fmt.Sprintf("%v stacks, %v frames, %v variables, %v objects", x["stacks"], x["frames"], x["variables"], x["objects"]); k.value != want {
				t.Errorf("%s = %q, the document's: %s", p, k.value, want)
			}
			return
		}
		if len(k.kids) == 0 {
			t.Errorf("%s = %q has no entries, the document: %v", p, k.value, x)
			return
		}
		compareScope(t, p, k.kids, x)
	default:
		s, _ := scalarJSON(v)
		if k.value != s || len(k.kids) > 0 {
			t.Errorf("%s = %q, the document: %q", p, k.value, s)
		}
	}
}

// TestAnalysisScopeIsTheDocument: the Fault analysis scope of crashes of
// every shape the analysis has (the field crash: logs, a list walk, the
// objects' fields, a timeline; the assertion; a tcache use after free:
// the heap's chunks and no list; a task deadlock: a sent signal, no
// faulting instruction, the waits), expanded entry by entry, against the
// analysis document of the same session.
func TestAnalysisScopeIsTheDocument(t *testing.T) {
	for _, name := range []string{fixture.FieldCrash, fixture.Abort, fixture.TcacheUAF, fixture.TaskDeadlock} {
		t.Run(name, func(t *testing.T) {
			sc := fixture.Get(t).Scenario(t, name)
			out := &syncBuffer{}
			c := &client{t: t, s: newConn(out), out: out}
			defer c.s.close()
			c.ok("initialize", map[string]any{"adapterID": "test"})
			c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe, "logFiles": []string{sc.Dir}})
			c.ok("configurationDone", nil)
			crash := int(sc.Expected["crash_lwp"].(float64))
			ref := 0
			for _, f := range c.ok("stackTrace", map[string]any{"threadId": crash, "levels": 100}).(*dap.StackTraceResponse).Body.StackFrames {
				for _, s := range c.ok("scopes", map[string]any{"frameId": f.Id}).(*dap.ScopesResponse).Body.Scopes {
					if s.Name == "Fault analysis" && ref == 0 {
						ref = s.VariablesReference
					}
				}
			}
			if ref == 0 {
				t.Fatal("no Fault analysis scope on the crashed thread's frames")
			}
			scope := c.expandScope(ref)
			_, raw, _ := c.call(cmdAnalysis, nil)
			var body struct {
				Body struct {
					Analysis map[string]any `json:"analysis"`
				} `json:"body"`
			}
			if err := json.Unmarshal(raw, &body); err != nil || len(body.Body.Analysis) == 0 {
				t.Fatalf("dsecore/analysis: %v %s", err, raw)
			}
			compareScope(t, "", scope, body.Body.Analysis)
		})
	}
}

// TestAnalysisScopeOfAnEmptyDocument: a document whose lists, maps and
// numbers are all empty or zero (what no fixture's crash has: an empty
// timeline, no objects, no logs, a memory section with nothing found)
// gives the scope no entry for any of them.
func TestAnalysisScopeOfAnEmptyDocument(t *testing.T) {
	a := &report.Analysis{Verdict: "no verdict", Confidence: "low", Timeline: []report.TimelineStep{}, Objects: []report.AnalysisObj{},
		Evidence: []report.AnalysisEvid{}, Rules: []string{},
		Fault:  &report.AnalysisFault{PC: "0x1", Kind: "null", Description: "d", Inline: []string{}, SiCode: "SEGV_MAPERR"},
		Logs:   &report.AnalysisLogs{Files: []string{}, PerThread: map[string][]string{}, Concurrent: [][2]string{}, Handler: []string{}},
		Memory: &report.AnalysisMemory{Verdict: "nothing", Rules: []string{}, Heap: []report.AnalysisChunk{}, Holders: []report.AnalysisHolder{}},
	}
	var expand func(ns []*node) []*scopeNode
	expand = func(ns []*node) []*scopeNode {
		out := []*scopeNode{}
		for _, n := range ns {
			sn := &scopeNode{name: n.name, value: n.value}
			if n.kids != nil {
				sn.kids = expand(n.kids())
			}
			out = append(out, sn)
		}
		return out
	}
	b, _ := json.Marshal(a)
	var doc map[string]any
	json.Unmarshal(b, &doc)
	compareScope(t, "", expand(analysisNodes(a)), doc)
}
