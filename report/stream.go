package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/internal/par"
)

// Ten thousand tasks' stacks are written as they are made, never held as
// ten thousand documents: a chunk at a time, each chunk's tasks unwound
// and named on all CPUs, then written in order.

// taskChunk is how many task documents are made at once: enough to keep
// every CPU busy, few enough that the chunk's frames stay in the CPUs'
// caches and the heap does not grow with the task count.
const taskChunk = 256

// Tasks calls each with every task's document (TaskDoc), in order, made a
// chunk at a time on all CPUs. The document handed to each is reused for
// a later task once each returns: each writes it out, it does not keep it.
// The first error each returns stops the walk and is returned.
//
// Each stack is unwound once, into reused buffers, and dropped when its
// document is made (coroutines.Runtime.CheckedStack); a runtime whose
// contexts are not checked yet (DeferConfirm) has them checked by those
// unwinds, so the caller runs Confirm after the walk (not meanwhile) and
// reads FoundBy and the runtime's warnings from then on.
//
// stackText makes only what the text backtrace prints (TaskStackWriter):
// no address, sp, saved registers or top frame (a map and nine strings a
// task that no one reads).
func Tasks(rt *coroutines.Runtime, tasks []*coroutines.Task, withFrames, stackText bool, each func(*Task) error) error {
	buf := make([]Task, min(taskChunk, len(tasks)))
	frames := make([][]Frame, len(buf)) // each slot's frames, reused by the next chunk
	for lo := 0; lo < len(tasks); lo += taskChunk {
		chunk := buf[:min(taskChunk, len(tasks)-lo)]
		par.Do(len(chunk), func(i int) {
			t := tasks[lo+i]
			rt.CheckedStack(t, func(ts *coroutines.TaskStack) { chunk[i] = taskDoc(rt, t, ts, withFrames, stackText, frames[i]) })
		})
		for i := range chunk {
			if err := each(&chunk[i]); err != nil {
				return err
			}
			if withFrames {
				frames[i] = chunk[i].Frames[:0]
			}
		}
		clear(chunk)
	}
	return nil
}

// TaskSeq is a sequence of task documents, as Tasks makes them: it calls
// each with every task in order and returns the first error each returned.
type TaskSeq func(each func(*Task) error) error

// TaskList is the sequence of the tasks of a document already made.
func TaskList(tasks []Task) TaskSeq {
	return func(each func(*Task) error) error {
		for i := range tasks {
			if err := each(&tasks[i]); err != nil {
				return err
			}
		}
		return nil
	}
}

// TaskStackWriter writes tasks' backtraces one at a time (WriteTaskStacks'
// text), each distinct frame's text made once.
type TaskStackWriter struct {
	w    io.Writer
	sep  bool
	memo map[Frame]string
}

// NewTaskStackWriter writes to w; sep: a blank line before the first task
// (after threads).
func NewTaskStackWriter(w io.Writer, sep bool) *TaskStackWriter {
	return &TaskStackWriter{w: w, sep: sep, memo: map[Frame]string{}}
}

// Write writes one task's backtrace.
func (tw *TaskStackWriter) Write(t *Task) {
	w := tw.w
	if tw.sep {
		fmt.Fprintln(w)
	}
	tw.sep = true
	fmt.Fprintf(w, "Task %d [%s] on Processer %d", t.ID, t.State, t.Processer)
	if t.Running {
		fmt.Fprintf(w, " (running on LWP %d)", t.LWP)
	}
	fmt.Fprintf(w, ", found by %s", t.FoundBy)
	if t.Func != "" {
		fmt.Fprintf(w, ", created in %s (%s:%d)", t.Func, t.File, t.Line)
	}
	fmt.Fprintln(w, ":")
	writeFrames(w, t.Frames, tw.memo)
	if len(t.Frames) == 0 {
		fmt.Fprintln(w, "     (no stack: the task has not started or is done)")
	}
	if t.Error != "" {
		fmt.Fprintf(w, "     (unwinding stopped: %s)\n", t.Error)
	}
}

// WriteBacktraceStream writes `bt`'s document with its tasks from tasks
// (doc.Tasks is not read), each written as it comes.
func WriteBacktraceStream(w io.Writer, doc *Backtrace, tasks TaskSeq) error {
	WriteThreads(w, doc.Threads)
	tw := NewTaskStackWriter(w, len(doc.Threads) > 0)
	if err := tasks(func(t *Task) error { tw.Write(t); return nil }); err != nil {
		return err
	}
	if c := doc.Coroutines; c != nil {
		fmt.Fprintf(w, "\n(coroutine profile %s)\n", ProfileText(c))
		WriteProfileUse(w, c, "")
	}
	return nil
}

// WriteBacktraceJSON writes `bt`'s document as JSON with its tasks from
// tasks (doc.Tasks is not read), each encoded as it comes: byte for byte
// what json.Encoder with a two-space indent writes for the whole document
// (TestBacktraceJSONStream), without holding it.
func WriteBacktraceJSON(w io.Writer, doc *Backtrace, tasks TaskSeq) error {
	// One encoder per level of the document, each into a buffer reused
	// for every value it encodes.
	var buf bytes.Buffer
	top := json.NewEncoder(&buf)
	top.SetIndent("  ", "  ")
	elem := json.NewEncoder(&buf)
	elem.SetIndent("    ", "  ")
	value := func(enc *json.Encoder, v any) error {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return err
		}
		_, err := w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return err
	}
	io.WriteString(w, "{\n  \"threads\": ")
	if err := value(top, &doc.Threads); err != nil {
		return err
	}
	n := 0
	err := tasks(func(t *Task) error {
		if n == 0 {
			io.WriteString(w, ",\n  \"tasks\": [\n    ")
		} else {
			io.WriteString(w, ",\n    ")
		}
		n++
		return value(elem, t)
	})
	if err != nil {
		return err
	}
	if n > 0 {
		io.WriteString(w, "\n  ]")
	}
	if doc.Coroutines != nil {
		io.WriteString(w, ",\n  \"coroutines\": ")
		if err := value(top, doc.Coroutines); err != nil {
			return err
		}
	}
	if len(doc.Warnings) > 0 {
		io.WriteString(w, ",\n  \"warnings\": ")
		if err := value(top, &doc.Warnings); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, "\n}\n")
	return err
}
