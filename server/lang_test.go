package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/l10n/l10ntest"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// TestSessionInChinese: a launch in VS Code's display language zh-cn gets
// the verdict in the catalog's Chinese where people read it (dsecore/
// analysis' localized part, the exception widget, the console's
// analysis); the analysis document stays the same, English.
func TestSessionInChinese(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	out := &syncBuffer{}
	c := &client{t: t, s: newConn(out), out: out}
	defer c.s.close()
	c.ok("initialize", map[string]any{"adapterID": "test"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe, "logFiles": []string{sc.Dir}, "lang": "zh-cn"})
	c.ok("configurationDone", nil)
	crash := int(sc.Expected["crash_lwp"].(float64))

	_, raw, _ := c.call(cmdAnalysis, nil)
	var ab struct {
		Body struct {
			Analysis struct {
				Verdict string `json:"verdict"`
			} `json:"analysis"`
			Localized struct {
				Lang        string   `json:"lang"`
				Verdict     string   `json:"verdict"`
				Description string   `json:"description"`
				Origin      []string `json:"origin"`
				Others      []struct {
					Who, Where, What string
				} `json:"others"`
				Findings []string `json:"findings"`
			} `json:"localized"`
		} `json:"body"`
	}
	json.Unmarshal(raw, &ab)
	loc := ab.Body.Localized
	if !strings.Contains(ab.Body.Analysis.Verdict, "by two paths") || loc.Lang != "zh-CN" || !strings.Contains(loc.Verdict, "很可能是两条路径并发析构（重复释放）") {
		t.Errorf("dsecore/analysis: %s", raw)
	}
	if loc.Description != "%rbx = 0x0：经空指针读取 0x0 处的 8 字节（node->next_）" {
		t.Errorf("localized description %q", loc.Description)
	}
	if len(loc.Origin) != 1 || loc.Origin[0] != "%rbx 加载自前一个节点的 next_（node->next_，由 get_next 读取）（在循环的上一次迭代中）" {
		t.Errorf("localized origin %q", loc.Origin)
	}
	if len(loc.Others) == 0 || loc.Others[0].Who != "任务 15 (Processer 6，block)" || loc.Others[0].Where != "寄存器 %rbx" || loc.Others[0].What != "属主对象 dm_hash_node_t" {
		t.Errorf("localized others %+v", loc.Others)
	}
	if len(loc.Findings) != 2 || !strings.HasPrefix(loc.Findings[1], "链表的 size_ 为 -1（下溢）：") {
		t.Errorf("localized findings %q", loc.Findings)
	}
	for _, s := range strings.SplitAfter(loc.Verdict, "。") {
		if w := l10ntest.EnglishIn(s); len(w) > 0 {
			t.Errorf("English %q in %q", w, s)
		}
	}
	exc := c.ok("exceptionInfo", map[string]any{"threadId": crash}).(*dap.ExceptionInfoResponse).Body
	if exc.Description != loc.Verdict {
		t.Errorf("exceptionInfo's description %q, want the Chinese verdict", exc.Description)
	}
	ev := c.ok("evaluate", map[string]any{"expression": "analysis", "context": "repl"}).(*dap.EvaluateResponse).Body.Result
	if !strings.Contains(ev, "结论（置信度：高）：") || !strings.Contains(ev, "\n证据：\n") {
		t.Errorf("the console's analysis is not in Chinese:\n%s", ev)
	}
	c.ok("disconnect", nil)
}

// TestHangInChinese: a hang's wait graph in a zh-cn launch: dsecore/
// analysis' localized.waits says the summary, the deadlock, the objects
// and who each member is in the catalog's Chinese, while waits (the
// document) stays English.
func TestHangInChinese(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TaskDeadlock)
	out := &syncBuffer{}
	c := &client{t: t, s: newConn(out), out: out}
	defer c.s.close()
	c.ok("initialize", map[string]any{"adapterID": "test"})
	c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe, "lang": "zh-cn"})
	c.ok("configurationDone", nil)
	_, raw, _ := c.call(cmdAnalysis, nil)
	var ab struct {
		Body struct {
			Waits struct {
				Summary string `json:"summary"`
				Cycles  []struct {
					Text string `json:"text"`
				} `json:"cycles"`
			} `json:"waits"`
			Localized struct {
				Waits *struct {
					Summary string            `json:"summary"`
					Cycles  []string          `json:"cycles"`
					Objects []string          `json:"objects"`
					Who     map[string]string `json:"who"`
				} `json:"waits"`
			} `json:"localized"`
		} `json:"body"`
	}
	if err := json.Unmarshal(raw, &ab); err != nil {
		t.Fatal(err)
	}
	lw := ab.Body.Localized.Waits
	if lw == nil {
		t.Fatalf("no localized waits: %s", raw)
	}
	if !strings.HasPrefix(ab.Body.Waits.Summary, "Deadlock of 2") || len(ab.Body.Waits.Cycles) != 1 || !strings.HasPrefix(ab.Body.Waits.Cycles[0].Text, "Deadlock of 2") {
		t.Errorf("the document's waits are not English: %q", ab.Body.Waits.Summary)
	}
	if len(lw.Cycles) != 1 || !strings.HasPrefix(lw.Cycles[0], "2 方死锁：") || !strings.HasPrefix(lw.Summary, "2 方死锁：") {
		t.Errorf("localized waits: summary %q, cycles %q", lw.Summary, lw.Cycles)
	}
	var texts []string
	texts = append(texts, lw.Summary)
	texts = append(texts, lw.Cycles...)
	texts = append(texts, lw.Objects...)
	for _, s := range texts {
		if !l10ntest.HasHan(s) {
			t.Errorf("not Chinese: %q", s)
		}
		if w := l10ntest.EnglishIn(s); len(w) > 0 {
			t.Errorf("English %q in %q", w, s)
		}
	}
	found := false
	for id, who := range lw.Who {
		if strings.HasPrefix(id, "task:") && strings.HasPrefix(who, "任务 ") && strings.Contains(who, "Processer") {
			found = true
		}
	}
	if !found {
		t.Errorf("no task's who in Chinese: %v", lw.Who)
	}
}
