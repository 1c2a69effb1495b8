package fault

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/corefile"
)

// LogLine is one ceph-dse log line.
type LogLine struct {
	File    string
	Line    int // 1-based line number in File
	Time    time.Time
	Pthread uint64
	LWP     int
	Subsys  int
	Level   string
	Message string
	Raw     string
	Thread  *coreparse.Thread // the core's thread with this pthread id, nil when none
}

// LogReport is what the logs say about the crash.
type LogReport struct {
	Files      []string
	Lines      int
	Unmatched  int               // lines whose pthread id is no thread of the core
	PerThread  map[int][]LogLine // LWP → the last lines before the crash, for the threads involved
	Concurrent [][2]LogLine      // the same step logged by two threads within the window
	Handler    []LogLine         // the fatal signal handler's lines
	HandlerOK  *bool             // the handler's thread is the core's crashed thread
	// HandlerSignal is the signal the handler's "*** Caught signal (…) **"
	// line names, in strsignal's words, and HandlerSigno its number (0
	// when no line says).
	HandlerSignal string
	HandlerSigno  int
	Notes         []string
}

var logRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) ([0-9a-f]+) (\d+) (\d+) +(\w+) (.*)$`)
})

// cephLogRE is a Ceph daemon's log line: time with milliseconds and zone,
// pthread id, priority, message (src/log/Entry.h's format).
var cephLogRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}) ([0-9a-f]+) +(-?\d+) (.*)$`)
})

// The fatal-signal handler's own lines (Ceph's handle_fatal_signal), which
// it also writes to stderr without any prefix, and whose second line has
// no prefix in the log either.
var (
	caughtRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\*\*\* Caught signal \((.+)\) \*\*`) })
	inThreadRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^ ?in thread ([0-9a-f]+) thread_name:(\S*)`) })
)

// ParseLog reads one ceph-dse log file.
func ParseLog(path string) ([]LogLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadLog(filepath.Base(path), f)
}

// ReadLog reads ceph-dse log lines from r; name is the file's base name.
func ReadLog(name string, r io.Reader) ([]LogLine, error) {
	var out []LogLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var prev *LogLine
	for n := 1; sc.Scan(); n++ {
		m := logRE().FindStringSubmatch(sc.Text())
		if m == nil {
			if l, ok := otherLogLine(name, sc.Text(), prev); ok {
				l.Line = n
				out = append(out, l)
				prev = &out[len(out)-1]
			}
			continue
		}
		t, err := time.Parse("2006-01-02 15:04:05.000000", m[1])
		if err != nil {
			continue
		}
		pt, _ := strconv.ParseUint(m[2], 16, 64)
		lwp, _ := strconv.Atoi(m[3])
		ss, _ := strconv.Atoi(m[4])
		out = append(out, LogLine{File: name, Line: n, Time: t, Pthread: pt, LWP: lwp, Subsys: ss, Level: m[5], Message: m[6], Raw: sc.Text()})
		prev = &out[len(out)-1]
	}
	return out, sc.Err()
}

// otherLogLine reads a Ceph log line (no LWP: 0), or one of the handler's
// lines without a prefix (on stderr; the log's continuation line), which
// takes the time and thread of the line before it, or of what it names.
func otherLogLine(name, text string, prev *LogLine) (LogLine, bool) {
	if m := cephLogRE().FindStringSubmatch(text); m != nil {
		t, err := time.Parse("2006-01-02T15:04:05.000-0700", m[1])
		if err != nil {
			return LogLine{}, false
		}
		pt, _ := strconv.ParseUint(m[2], 16, 64)
		return LogLine{File: name, Time: t, Pthread: pt, Level: m[3], Message: m[4], Raw: text}, true
	}
	if !caughtRE().MatchString(text) && !inThreadRE().MatchString(text) {
		return LogLine{}, false
	}
	l := LogLine{File: name, Message: strings.TrimSpace(text), Raw: text}
	if prev != nil {
		l.Time, l.Pthread, l.LWP = prev.Time, prev.Pthread, prev.LWP
	}
	if m := inThreadRE().FindStringSubmatch(text); m != nil {
		l.Pthread, _ = strconv.ParseUint(m[1], 16, 64)
	}
	return l, true
}

// ExpandLogs turns files and directories into log files.
func ExpandLogs(args []string) []string {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err == nil && st.IsDir() {
			ms, _ := filepath.Glob(filepath.Join(a, "*.log*"))
			out = append(out, ms...)
			continue
		}
		out = append(out, a)
	}
	return out
}

func (a *Analysis) correlateLogs(files []string) *LogReport {
	r := &LogReport{PerThread: map[int][]LogLine{}}
	var all []LogLine
	for _, f := range ExpandLogs(files) {
		ls, err := ParseLog(f)
		if err != nil {
			a.warnf("log %s: %v", f, err)
			continue
		}
		r.Files = append(r.Files, f)
		all = append(all, ls...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	r.Lines = len(all)
	byPthread := map[uint64]*coreparse.Thread{}
	for _, t := range a.p.Threads {
		byPthread[t.Pthread] = t
	}
	for i := range all {
		l := &all[i]
		l.Thread = byPthread[l.Pthread]
		if l.Thread == nil {
			r.Unmatched++
		} else if l.LWP != 0 && l.Thread.LWP != l.LWP {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: pthread %x is LWP %d in the core but the line says %d", l.File, l.Pthread, l.Thread.LWP, l.LWP))
		}
	}
	crash := a.Fault.Context.Thread
	// The handler's lines.
	handlerRE := regexp.MustCompile(`in thread ([0-9a-f]+) thread_name:(\S*)`)
	for _, l := range all {
		if m := caughtRE().FindStringSubmatch(l.Message); m != nil {
			r.Handler = append(r.Handler, l)
			if r.HandlerSigno == 0 {
				r.HandlerSignal = m[1]
				for n := 1; n < 32; n++ {
					if corefile.SignalDescription(n) == m[1] {
						r.HandlerSigno = n
					}
				}
			}
		}
		if m := handlerRE.FindStringSubmatch(l.Message); m != nil {
			r.Handler = append(r.Handler, l)
			pt, _ := strconv.ParseUint(m[1], 16, 64)
			ok := pt == crash.Pthread
			r.HandlerOK = &ok
			if !ok {
				r.Notes = append(r.Notes, fmt.Sprintf("the handler names thread %x (%s), the core's crashed thread is pthread %#x LWP %d", pt, m[2], crash.Pthread, crash.LWP))
			}
		}
	}
	end := time.Time{}
	if len(r.Handler) > 0 {
		end = r.Handler[0].Time
	} else if len(all) > 0 {
		end = all[len(all)-1].Time
	}
	// The threads involved: the crashed one, and those the analysis found.
	involved := map[int]bool{crash.LWP: true}
	for _, h := range a.Others {
		if h.LWP != 0 {
			involved[h.LWP] = true
		}
		if h.TaskID >= 0 {
			if t := a.taskThread(h.TaskID); t != nil {
				involved[t.LWP] = true
			}
		}
	}
	if m := a.Memory; m != nil && m.Holders != nil {
		for _, h := range m.Holders.Holders {
			if h.LWP != 0 {
				involved[h.LWP] = true
			}
			if h.TaskID >= 0 {
				if t := a.taskThread(h.TaskID); t != nil {
					involved[t.LWP] = true
				}
			}
		}
	}
	for _, s := range a.SameCode {
		if s.LWP != 0 {
			involved[s.LWP] = true
		}
		if s.TaskID >= 0 {
			if t := a.taskThread(s.TaskID); t != nil {
				involved[t.LWP] = true
			}
		}
	}
	for lwp := range involved {
		var ls []LogLine
		for _, l := range all {
			if l.LWP == lwp && !l.Time.After(end) {
				ls = append(ls, l)
			}
		}
		if len(ls) > 6 {
			ls = ls[len(ls)-6:]
		}
		if len(ls) > 0 {
			r.PerThread[lwp] = ls
		}
	}
	// The same step from two threads: within the window, or while the
	// first thread was still in it (it logged nothing else, or crashed,
	// before the second began).
	win := time.Duration(a.o.ConcurrencyWindowUS) * time.Microsecond
	next := make([]time.Time, len(all)) // the same thread's next line, zero when none
	lastOf := map[uint64]int{}
	for i := len(all) - 1; i >= 0; i-- {
		if k, ok := lastOf[all[i].Pthread]; ok {
			next[i] = all[k].Time
			if strings.Contains(all[k].Message, "*** Caught signal") {
				next[i] = time.Time{} // the step ended in the crash
			}
		}
		lastOf[all[i].Pthread] = i
	}
	for _, pat := range a.o.Profile.LogConcurrent {
		var idx []int
		for i, l := range all {
			if strings.Contains(l.Message, pat) {
				idx = append(idx, i)
			}
		}
		for x := 0; x < len(idx) && len(r.Concurrent) < 100; x++ {
			li := all[idx[x]]
			until := li.Time.Add(win)
			if n := next[idx[x]]; n.IsZero() {
				until = end
			} else if n.After(until) {
				until = n
			}
			for y := x + 1; y < len(idx); y++ {
				lj := all[idx[y]]
				if lj.Time.After(until) {
					break
				}
				if lj.Pthread != li.Pthread {
					r.Concurrent = append(r.Concurrent, [2]LogLine{li, lj})
				}
			}
		}
	}
	return r
}

// taskThread is the thread of a task's Processer.
func (a *Analysis) taskThread(id int64) *coreparse.Thread {
	if a.rt == nil {
		return nil
	}
	t := a.rt.TaskByID(id)
	if t == nil {
		return nil
	}
	for _, pr := range a.rt.Processers {
		if pr.ID == t.Processer {
			return pr.Thread
		}
	}
	return nil
}

func readLines(arg string) []string {
	if b, err := os.ReadFile(arg); err == nil {
		return strings.Split(string(b), "\n")
	}
	return []string{arg}
}
