package fault_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/analysis/fault"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// verdictCase is what one variant's verdict must say, and must not.
type verdictCase struct {
	name     string
	contains func(sc *fixture.Scenario) []string
	rules    []string // must fire
	never    []string // must not fire
	memRef   string   // an evidence Ref the verdict must point at
}

// TestVerdictUsesMemory: the one verdict names the strongest holder and how
// it holds the object (path, variable and type, frame), and the heap's
// rule with where the chunk sits; no rule fires that the variant's truth
// does not support.
func TestVerdictUsesMemory(t *testing.T) {
	set := fixture.Get(t)
	concurrent := []string{"shared-object", "verdict-concurrent-release"}
	heapRules := []string{"heap-use-after-free", "heap-double-free", "heap-corruption", "heap-invalid-free", "verdict-use-after-free", "verdict-double-free", "malloc-abort"}
	single := []string{"shared-object", "same-operation", "log-concurrent", "verdict-concurrent-release"}
	chunkText := func(sc *fixture.Scenario) string {
		h := sc.Expected["heap"].(map[string]any)
		return fmt.Sprintf("chunk %s (size %s)", h["chunk"], h["size"])
	}
	binText := func(sc *fixture.Scenario) string {
		h := sc.Expected["heap"].(map[string]any)
		return fmt.Sprintf("in thread LWP %v (%v)'s tcache bin %v", h["thread_lwp"], h["thread_name"], h["tcache_bin"])
	}
	cases := []verdictCase{
		{name: fixture.FieldCrash, contains: func(sc *fixture.Scenario) []string {
			return []string{
				fmt.Sprintf("Another path was on the same object: task %d (Processer %v, block) holds the owner dm_hash_node_t %s as `node` (parameter `node` of type dm_hash_node_t *, frame #3 (anonymous namespace)::release_wait ← lsm_release_all_csdobj ← lsm_destroy)",
					theOtherPath(t, sc), sc.Expected["racing_tasks"].([]any)[1].(map[string]any)["processer"], sc.Expected["node"]),
				fmt.Sprintf("Likely concurrent destruction (double release) of the objects of dm_hash_node_t %s by two paths: %s, and task %d (Processer %v, block) in (anonymous namespace)::release_wait ← lsm_release_all_csdobj ← lsm_destroy.",
					sc.Expected["node"], crashPath(t, sc), theOtherPath(t, sc), sc.Expected["racing_tasks"].([]any)[1].(map[string]any)["processer"]),
			}
		}, rules: concurrent, never: heapRules, memRef: "memory.holders[0]"},
		{name: fixture.PointerChain, contains: func(sc *fixture.Scenario) []string {
			h := sc.Expected["holder"].(map[string]any)
			p := h["paths"].([]any)[0].(map[string]any)
			return []string{
				fmt.Sprintf("Another path was on the same object: thread LWP %v", h["lwp"]),
				fmt.Sprintf("holds the owner dm_hash_node_t %s as `%s` (a pointer chain of 1 hop from parameter `%s` of type %s, frame #1 %s ← lsm_release_all_csdobj ← lsm_destroy)",
					h["object"], p["expr"], p["variable"], p["type"], p["function"]),
				// (the other thread is named after its entry routine: the core names it not)
				fmt.Sprintf("Likely concurrent destruction (double release) of the objects of dm_hash_node_t %s by two paths: %s, and thread LWP %v ",
					h["object"], crashPath(t, sc), h["lwp"]),
				fmt.Sprintf(") in %s ← lsm_release_all_csdobj ← lsm_destroy.", p["function"]),
			}
		}, rules: concurrent, never: heapRules, memRef: "memory.holders[0]"},
		{name: fixture.TcacheUAF, contains: func(sc *fixture.Scenario) []string {
			h := sc.Expected["heap"].(map[string]any)
			return []string{
				fmt.Sprintf("Use after free: %%rbx = %s is the tcache next word free() wrote into the freed object %s", h["next_word"], h["mem"]),
				chunkText(sc) + ", which is free, " + binText(sc),
				"Likely a use-after-free in this thread's own path",
			}
		}, rules: []string{"heap-use-after-free", "verdict-use-after-free"}, never: append(single, "heap-double-free", "malloc-abort", "heap-corruption"), memRef: "memory.heap[0]"},
		{name: fixture.DoubleFree, contains: func(sc *fixture.Scenario) []string {
			h := sc.Expected["heap"].(map[string]any)
			return []string{
				`abort() by glibc's malloc: "free(): double free detected in tcache 2".`,
				fmt.Sprintf("Double free: %s is freed again: %s is already free, %s", h["mem"], chunkText(sc), binText(sc)),
				"Likely a double free in this thread's own path",
			}
		}, rules: []string{"heap-double-free", "malloc-abort", "verdict-double-free"}, never: append(single, "heap-use-after-free", "verdict-use-after-free", "heap-corruption"), memRef: "memory.heap[0]"},
		{name: fixture.UseAfterFree, contains: func(*fixture.Scenario) []string {
			return []string{"poison byte 0x6b", "Likely a use-after-free in this thread's own path"}
		}, rules: []string{"verdict-use-after-free"}, never: append(single, "heap-double-free", "malloc-abort", "heap-corruption")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := set.Scenario(t, c.name)
			a := analyze(t, sc, fault.Options{})
			if a.Memory == nil || !a.Memory.HeapKnown {
				t.Fatalf("memory %+v", a.Memory)
			}
			for _, s := range c.contains(sc) {
				if !strings.Contains(a.Verdict, s) {
					t.Errorf("verdict lacks %q:\n%s", s, a.Verdict)
				}
			}
			for _, r := range c.rules {
				if !hasRule(a, r) {
					t.Errorf("rule %s did not fire: %v", r, a.Rules)
				}
			}
			for _, r := range c.never {
				if hasRule(a, r) {
					t.Errorf("rule %s fired: %v", r, a.Rules)
				}
			}
			if c.memRef != "" {
				found := false
				for _, e := range a.Evidence {
					found = found || e.Ref == c.memRef
				}
				if !found {
					t.Errorf("no evidence points at %s: %+v", c.memRef, a.Evidence)
				}
			}
		})
	}
}
