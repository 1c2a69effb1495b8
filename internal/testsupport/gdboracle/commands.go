package gdboracle

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Commands runs gdb's own commands on exe and core in batch mode and
// returns each command's output (what gdb printed between it and the
// next), for comparing text gdb prints with ours.
func Commands(exe, core string, o Options, cmds ...string) ([]string, error) {
	if _, err := exec.LookPath("gdb"); err != nil {
		return nil, fmt.Errorf("gdb is not installed (scripts/setup.sh installs it): %w", err)
	}
	const mark = "@@gdboracle-command@@"
	args := []string{"-nx", "-batch", "-ex", "set pagination off", "-ex", "set width 0"}
	if o.Sysroot != "" {
		args = append(args, "-ex", "set sysroot "+o.Sysroot)
	}
	if len(o.SolibSearchPath) > 0 {
		args = append(args, "-ex", "set solib-search-path "+strings.Join(o.SolibSearchPath, ":"))
	}
	for _, c := range o.Commands {
		args = append(args, "-ex", c)
	}
	for _, c := range cmds {
		args = append(args, "-ex", "echo "+mark+"\\n", "-ex", c)
	}
	args = append(args, exe, core)
	key := memoKey(exe, core, append([]string{"commands"}, args...)...)
	if b, ok := memoGet(key); ok {
		var parts []string
		if json.Unmarshal(b, &parts) == nil {
			return parts, nil
		}
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gdb", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("gdb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	parts := strings.Split(string(out), mark+"\n")
	if len(parts) != len(cmds)+1 {
		return nil, fmt.Errorf("gdb printed %d command outputs for %d commands:\n%s", len(parts)-1, len(cmds), out)
	}
	if b, err := json.Marshal(parts[1:]); err == nil {
		memoPut(key, b)
	}
	return parts[1:], nil
}
