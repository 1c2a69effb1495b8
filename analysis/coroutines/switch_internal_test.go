package coroutines

import (
	"reflect"
	"testing"

	"github.com/dsecore/dsecore/coreparse/disasm"
)

// TestDecodeSwitch: the saved-context layout read from switch routines'
// code, for the two ways Boost.Context has written it: libgo's copy of
// Boost's older routine (pushes, then an FPU slot; libgo_jump_fcontext) and
// Boost 1.81's (a 0x40-byte frame with a stack-guard slot, after endbr64).
// Boost 1.74's is checked on the fixture's real libboost_context
// (TestForkProfileCheck). The bytes are as objdump decodes them:
//
//	push %rbp; push %rbx; push %r15; push %r14; push %r13; push %r12
//	lea -0x8(%rsp),%rsp; mov %rsp,(%rdi); mov %rsi,%rsp
func TestDecodeSwitch(t *testing.T) {
	libgo := []byte{0x55, 0x53, 0x41, 0x57, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54, 0x48, 0x8d, 0x64, 0x24, 0xf8, 0x48, 0x89, 0x27, 0x48, 0x89, 0xf4}
	// endbr64; lea -0x40(%rsp),%rsp; mov %r12,0x10(%rsp) … mov %rbp,0x38(%rsp); mov %rsp,%rax; mov %rdi,%rsp
	b181 := []byte{0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8d, 0x64, 0x24, 0xc0, 0x4c, 0x89, 0x64, 0x24, 0x10, 0x4c, 0x89, 0x6c, 0x24, 0x18,
		0x4c, 0x89, 0x74, 0x24, 0x20, 0x4c, 0x89, 0x7c, 0x24, 0x28, 0x48, 0x89, 0x5c, 0x24, 0x30, 0x48, 0x89, 0x6c, 0x24, 0x38,
		0x48, 0x89, 0xe0, 0x48, 0x89, 0xfc}
	for _, c := range []struct {
		name string
		code []byte
		want map[string]int
	}{{"libgo (pushes)", libgo, boostLayout}, {"Boost 1.81", b181, boost181Layout}} {
		got, err := decodeSwitch(disasm.DecodeAll(c.code, 0x1000, nil))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	// A routine that replaces rsp before saving it is no fcontext switch.
	if l, err := decodeSwitch(disasm.DecodeAll([]byte{0x48, 0x89, 0xfc, 0x48, 0x89, 0xe0}, 0, nil)); err == nil {
		t.Errorf("mov %%rdi,%%rsp first: layout %v", l)
	}
	// Registers missing: not a layout.
	if l, err := decodeSwitch(disasm.DecodeAll([]byte{0x55, 0x48, 0x89, 0xe0}, 0, nil)); err == nil {
		t.Errorf("only rbp saved: layout %v", l)
	}
}

// TestNameWords: renames are recognised by the words of member names that
// not every candidate shares.
func TestNameWords(t *testing.T) {
	if w := words("runningTask_"); !reflect.DeepEqual(w, []string{"running", "task"}) {
		t.Errorf("words(runningTask_) = %v", w)
	}
	if w := words("nTasks_"); !reflect.DeepEqual(w, []string{"n", "task"}) {
		t.Errorf("words(nTasks_) = %v", w)
	}
	for _, c := range []struct {
		want  string
		cands []string
		got   string
		ok    bool
	}{
		{"taskCount_", []string{"nTasks_", "nextId_", "defaultStackSize_"}, "nTasks_", true},
		{"runningTask_", []string{"curTask_", "nextTask_"}, "", false}, // "task" is in both: no evidence
		{"waitQueue_", []string{"blockQueue_", "sleepQueue_"}, "", false},
		{"waitQueue_", []string{"waitList_", "gcList_"}, "waitList_", true},
		{"waitQueue_", []string{"waitList_", "gcQueue_"}, "", false}, // one shares "wait", the other "queue"
	} {
		got, ok := byName(c.want, c.cands)
		if ok != c.ok || ok && got != c.got {
			t.Errorf("byName(%s, %v) = %s, %v; want %s, %v", c.want, c.cands, got, ok, c.got, c.ok)
		}
	}
}
