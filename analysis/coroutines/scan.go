package coroutines

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/dsecore/dsecore/coreparse/disasm"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/dsecore/dsecore/internal/par"
)

// scan confirms the profile's switched-out contexts and, when the profile
// cannot account for every task (or full), finds contexts without types:
// the return addresses of
// every call to a switch function (found by decoding the calls in the code
// that uses them) are searched for in the stack slots of anonymous memory
// outside the threads' stacks; a slot holding one is a saved context's
// return slot if unwinding from it reaches the task entry trampoline. Per
// stack mapping the highest such context is the live one (older ones below
// it are left-overs of earlier switches).
func (rt *Runtime) scan(full, confirm bool) {
	p := rt.p
	// The profile's tasks: each saved context is checked where the profile
	// says it is. The memory sweep below, which reads every anonymous
	// writable mapping (the whole heap of a production core), runs only when
	// the profile cannot account for every task: no profile, a scheduler
	// count the queues fall short of, or when asked for.
	if confirm {
		rt.confirm()
	}
	if !full && len(rt.Tasks) > 0 && rt.TaskCount >= 0 && int64(len(rt.Tasks)) >= rt.TaskCount {
		return
	}
	rets := rt.switchReturnAddresses()
	if len(rets) == 0 {
		rt.warnf("scan: no calls to the switch functions %v found", rt.prof.SwitchFunctions)
		return
	}
	rt.scanned, rt.scanRets = true, len(rets)
	before := len(rt.Tasks)
	ripOff := uint64(rt.prof.Layout["rip"])
	// Mappings holding a thread's stack pointer are thread stacks or the
	// running tasks' stacks: the threads show those.
	live := map[uint64]bool{}
	for _, t := range p.Threads {
		if s, ok := p.Core.SegmentAt(t.Regs.V[7]); ok {
			live[s.Vaddr] = true
		}
	}
	buf := make([]byte, 1<<16)
	for i := range p.Core.Segments {
		s := &p.Core.Segments[i]
		if live[s.Vaddr] || s.Flags&elf.PF_W == 0 || s.Filesz == 0 {
			continue
		}
		if _, fileBacked := p.Core.FileAt(s.Vaddr); fileBacked {
			continue
		}
		rt.scanMappings++
		var best uint64
		for off := uint64(0); off < s.Filesz; off += uint64(len(buf)) {
			n := min(uint64(len(buf)), s.Filesz-off)
			k, _ := p.Core.ReadAt(buf[:n], s.Vaddr+off)
			for j := 0; j+8 <= k; j += 8 {
				v := binary.LittleEndian.Uint64(buf[j:])
				if !rets[v] {
					continue
				}
				slot := s.Vaddr + off + uint64(j)
				sp := slot - ripOff
				if sp > best && rt.validContext(sp) {
					best = sp
				}
			}
		}
		if best == 0 {
			continue
		}
		if t := rt.taskBySP(best); t != nil {
			t.FoundBy = "profile+scan"
			continue
		}
		t := &Task{ID: -1, State: "switched out", Processer: -1, SP: best, StackLo: s.Vaddr, StackHi: s.Vaddr + s.Memsz, FoundBy: "scan"}
		rt.Tasks = append(rt.Tasks, t)
	}
	if n := len(rt.Tasks) - before; n > 0 {
		why := "the profile found no task"
		if before > 0 {
			why = fmt.Sprintf("the profile found %d tasks, the scheduler counts %d", before, rt.TaskCount)
		}
		if full && before > 0 && rt.TaskCount >= 0 && int64(before) >= rt.TaskCount {
			why = "a full scan was asked for"
		}
		rt.warnf("the stack scan found %d saved contexts the profile did not (%s): found_by \"scan\", id -1", n, why)
	}
}

// confirm checks each saved context the profile's walk found where it is:
// unwinding from it must reach the entry trampoline (FoundBy
// "profile+scan"); one that does not is a warning. A context CheckedStack
// checked already is not unwound again.
func (rt *Runtime) confirm() {
	// The walk's tasks only: a deferred check runs after the memory sweep,
	// whose own tasks ("scan") are valid by construction.
	tasks, at := rt.Tasks, len(rt.Warnings)
	if rt.walkOrder != nil {
		tasks, at = rt.walkOrder, rt.confirmAt
	}
	walked := func(t *Task) bool { return t.FoundBy == "profile" && t.switchedOut() }
	par.Do(len(tasks), func(i int) {
		if t := tasks[i]; walked(t) && atomic.LoadInt32(&t.check) == 0 {
			rt.settle(t, rt.validContext(t.SP))
		}
	})
	var warnings []string
	for _, t := range tasks {
		switch {
		case !walked(t):
		case atomic.LoadInt32(&t.check) == checkValid:
			t.FoundBy = "profile+scan"
		default:
			warnings = append(warnings, fmt.Sprintf("task %d's saved context at %#x does not unwind to %s", t.ID, t.SP, rt.prof.EntryTrampoline))
		}
	}
	if len(warnings) > 0 {
		rt.Warnings = slices.Insert(rt.Warnings, at, warnings...)
	}
	rt.walkOrder = nil
}

// The verdicts of a context's check (Task.check).
const (
	checkValid   = 1
	checkInvalid = 2
)

// settle records the check of t's saved context.
func (rt *Runtime) settle(t *Task, valid bool) {
	v := int32(checkInvalid)
	if valid {
		v = checkValid
	}
	atomic.StoreInt32(&t.check, v)
}

// FoundBy is how the task was found as Confirm will say it: its FoundBy,
// with a check CheckedStack made before Confirm ran taken into account.
func (rt *Runtime) FoundBy(t *Task) string {
	if t.FoundBy == "profile" && atomic.LoadInt32(&t.check) == checkValid && t.switchedOut() {
		return "profile+scan"
	}
	return t.FoundBy
}

// Confirm checks the saved contexts a discovery with DeferConfirm left
// unchecked (once; a no-op after any other discovery). Until it returns,
// the tasks' FoundBy and the runtime's Warnings are the walk's alone;
// their ids, states, Processers, stacks and created-at data are final.
// The warnings it adds are where a check in Discover would have put them,
// in the walk's order. It must not run while CheckedStack does.
func (rt *Runtime) Confirm() {
	rt.confirmOnce.Do(func() {
		if rt.confirmPending {
			rt.confirmPending = false
			rt.confirm()
		}
	})
}

func (rt *Runtime) taskBySP(sp uint64) *Task {
	for _, t := range rt.Tasks {
		if t.SP == sp && !t.Running {
			return t
		}
	}
	return nil
}

// validContext unwinds a candidate context: it must reach the entry
// trampoline. Frames are named by ELF symbols only (no DWARF, no inline or
// tail-call frames): thousands of candidates are checked.
func (rt *Runtime) validContext(sp uint64) bool {
	raw, _ := rt.unwindContext(sp)
	return rt.reachesEntry(raw)
}

// reachesEntry reports whether a context's unwind (its first frame a
// return address) reaches the entry trampoline.
func (rt *Runtime) reachesEntry(raw []unwind.Frame) bool {
	for i := 1; i < len(raw); i++ {
		pc := raw[i].PC
		if !raw[i].Exact {
			pc-- // a return address: the call is before it
		}
		if rt.isEntry(pc) {
			return true
		}
	}
	return false
}

// isEntry reports whether pc is in the entry trampoline (by its ELF
// symbol), once per pc.
func (rt *Runtime) isEntry(pc uint64) bool {
	if v, ok := rt.inEntry.Load(pc); ok {
		return v.(bool)
	}
	name, _, ok := rt.p.Symbol(pc)
	in := ok && (name == rt.prof.EntryTrampoline || strings.HasPrefix(name, rt.prof.EntryTrampoline+"("))
	rt.inEntry.Store(pc, in)
	return in
}

// switchReturnAddresses decodes the code of every module that calls a
// switch function (directly or through its PLT entry) and returns the
// addresses after those calls.
func (rt *Runtime) switchReturnAddresses() map[uint64]bool {
	p := rt.p
	targets := map[uint64]bool{}
	for _, name := range rt.prof.SwitchFunctions {
		for _, m := range p.Modules {
			if m.Syms == nil {
				continue
			}
			if s, ok := m.Syms.LookupFunction(name); ok {
				targets[s.Value+m.Bias] = true
			}
			if s, ok := m.Syms.Lookup(name + "@plt"); ok {
				targets[s.Value+m.Bias] = true
			}
		}
	}
	rets := map[uint64]bool{}
	if len(targets) == 0 {
		return rets
	}
	for _, m := range p.Modules {
		if m.Path == "" || m.IsSystem() {
			continue
		}
		f, err := elf.Open(m.Path)
		if err != nil {
			continue
		}
		for _, sec := range f.Sections {
			if sec.Type != elf.SHT_PROGBITS || sec.Flags&elf.SHF_EXECINSTR == 0 {
				continue
			}
			code, err := sec.Data()
			if err != nil {
				continue
			}
			base := sec.Addr + m.Bias
			for i := 0; i+5 <= len(code); i++ {
				if code[i] != 0xe8 {
					continue
				}
				rel := int32(binary.LittleEndian.Uint32(code[i+1:]))
				tgt := base + uint64(i) + 5 + uint64(int64(rel))
				if !targets[tgt] {
					continue
				}
				// Confirm with the decoder that this is a call instruction.
				if in, err := disasm.Decode(code[i:i+5], base+uint64(i), nil); err == nil && in.Op == "call" && in.Target == tgt {
					rets[base+uint64(i)+5] = true
				}
			}
		}
		f.Close()
	}
	return rets
}
