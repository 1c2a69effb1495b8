package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestBacktraceJSONStream: WriteBacktraceJSON writes, task by task, the
// bytes json.Encoder (two-space indent, HTML escaped) writes for the whole
// document, whichever of its parts are there.
func TestBacktraceJSONStream(t *testing.T) {
	frames := []Frame{{PC: "0x401000", Function: "f<std::pair<int, char>>", File: "a&b.cc", Line: 3, FoundBy: "cfi"},
		{PC: "0x401010", Function: "??", Offset: "0x10", Sigtramp: true}}
	threads := []Thread{{LWP: 7, Pthread: "0x7f00", Name: "Processer_1", Crashed: true, Frames: frames, Error: "unwinding stopped <here>"},
		{LWP: 8, Frames: []Frame{}}}
	tasks := []Task{{ID: 1, State: "block", Processer: 0, FoundBy: "profile+scan", SP: "0x10", SavedRegs: map[string]string{"rip": "0x1", "rbx": "0x2"},
		Func: "wait_for_peer", Frames: frames, Top: "f at a.cc:3"}, {ID: 2, State: "new", Processer: -1, FoundBy: "profile", Frames: []Frame{}}}
	co := &Coroutines{Profile: "ceph-dse", Spec: &ProfileSpec{Name: "x", Layout: map[string]int{"rip": 48}}, TaskCount: 2, Processers: []Processer{}}
	docs := map[string]Backtrace{
		"everything":   {Threads: threads, Tasks: tasks, Coroutines: co, Warnings: []string{"w <1>", "w 2"}},
		"no tasks":     {Threads: threads, Coroutines: co},
		"tasks only":   {Tasks: tasks, Coroutines: co},
		"threads only": {Threads: threads[:1]},
		"nothing":      {},
		"one task":     {Threads: []Thread{}, Tasks: tasks[1:], Warnings: []string{"w"}},
	}
	for name, doc := range docs {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		streamed := doc
		streamed.Tasks = nil // the stream's tasks come from the sequence alone
		if err := WriteBacktraceJSON(&got, &streamed, TaskList(doc.Tasks)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: streamed\n%s\nwant\n%s", name, got.Bytes(), want.Bytes())
		}
	}
}

// TestTaskListStops: a document's task sequence hands its tasks over in
// order and stops at the first error.
func TestTaskListStops(t *testing.T) {
	var got []string
	seq := TaskList(make([]Task, 3*taskChunk+5))
	i := 0
	seq(func(tk *Task) error { tk.ID = int64(i); i++; return nil })
	stop := fmt.Errorf("stop")
	err := seq(func(tk *Task) error {
		got = append(got, fmt.Sprint(tk.ID))
		if len(got) == 10 {
			return stop
		}
		return nil
	})
	if err != stop || len(got) != 10 || got[9] != "9" {
		t.Errorf("TaskList stopped with %v after %v", err, got)
	}
}

// TestHex: Hex is fmt's %#x, remembered or not.
func TestHex(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xf, 0x401000, 0x7f9a16bf5000, 1<<64 - 1, 0x401000, 0} {
		if got, want := Hex(v), fmt.Sprintf("%#x", v); got != want {
			t.Errorf("Hex(%d) = %q, want %q", v, got, want)
		}
	}
}
