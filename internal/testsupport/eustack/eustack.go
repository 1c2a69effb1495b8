// Package eustack runs elfutils' eu-stack on a core and returns its frames:
// the oracle of the frame-pointer tests, where gdb's prologue analysis stops
// early and elfutils follows the rbp chain (libdwfl's __libdwfl_frame_unwind
// falls back to backends/x86_64_unwind.c when no CFI covers a pc).
package eustack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Frame is one frame as eu-stack prints it: the pc (a return address for
// callers, as gdb's frame.pc()) and the symbol name ("" when none).
type Frame struct {
	PC   uint64
	Name string
}

// Thread is one thread's frames, and what eu-stack said when it stopped
// (its "dwfl_thread_getframes tid N at PC in MODULE: …" line), if anything.
type Thread struct {
	TID    int
	Frames []Frame
	Stop   string
}

var (
	tidRE   = regexp.MustCompile(`^TID (\d+):$`)
	frameRE = regexp.MustCompile(`^#(\d+)\s+0x([0-9a-f]+)\s*(.*)$`)
	stopRE  = regexp.MustCompile(`^eu-stack: dwfl_thread_getframes tid (\d+) at 0x[0-9a-f]+ in .*?: (.*)$`)
)

// Backtraces runs `eu-stack --core core -e exe` (within two minutes). A
// thread whose unwind ended with an error is still returned, with Stop set.
func Backtraces(exe, core string) ([]Thread, error) {
	path, err := exec.LookPath("eu-stack")
	if err != nil {
		return nil, fmt.Errorf("eu-stack is not installed (scripts/setup.sh installs elfutils): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--core", core, "-e", exe)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	threads, err := Parse(stdout.String(), stderr.String())
	if err != nil {
		return nil, err
	}
	if len(threads) == 0 {
		return nil, fmt.Errorf("eu-stack --core %s -e %s: no threads (%v)\n%s", core, exe, runErr, stderr.String())
	}
	return threads, nil
}

// Parse reads eu-stack's output (stdout: threads and frames; stderr: why
// threads ended early).
func Parse(stdout, stderr string) ([]Thread, error) {
	var out []Thread
	byTID := map[int]int{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		if m := tidRE.FindStringSubmatch(line); m != nil {
			tid, _ := strconv.Atoi(m[1])
			byTID[tid] = len(out)
			out = append(out, Thread{TID: tid})
			continue
		}
		if m := frameRE.FindStringSubmatch(line); m != nil && len(out) > 0 {
			pc, err := strconv.ParseUint(m[2], 16, 64)
			if err != nil {
				return nil, fmt.Errorf("eu-stack: bad pc in %q", line)
			}
			out[len(out)-1].Frames = append(out[len(out)-1].Frames, Frame{PC: pc, Name: strings.TrimSpace(m[3])})
		}
	}
	for _, line := range strings.Split(stderr, "\n") {
		if m := stopRE.FindStringSubmatch(line); m != nil {
			tid, _ := strconv.Atoi(m[1])
			if i, ok := byTID[tid]; ok {
				out[i].Stop = m[2]
			}
		}
	}
	return out, nil
}
