package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dsecore/dsecore/analysis/coroutines"
	"github.com/dsecore/dsecore/analysis/fault"
)

// PathPolicy is what files a client may make the server read. The server
// reads with its own privileges: without a policy, whoever may talk to it
// may read whatever it may (another user's core, a key). Each path a
// client names (coreFile, program, solibSearchPath, sysroot,
// debugFileDirectory, logFiles and the files found in a log directory,
// profile, analysisProfile, dmesg when it names a file) is made absolute,
// its symlinks and ".." resolved, then checked:
//
//   - with Roots, it must lie in one of those trees (dsecore dap --root);
//   - else with OwnFiles, it must belong to the server's user or be one
//     anyone may read: world-readable, in directories anyone may search
//     (the default of a server on a socket);
//
// and a path outside gets an error response naming the rule. The server's
// own flags are trusted: they are its user's.
type PathPolicy struct {
	Roots    []string // resolved (EvalSymlinks) absolute directories
	OwnFiles bool     // without Roots: the server user's own or world-readable files
	uid      int
}

// NewPathPolicy makes a policy: roots (each must exist; resolved here),
// else the server user's own files when ownFiles; nil when neither.
func NewPathPolicy(roots []string, ownFiles bool) (*PathPolicy, error) {
	p := &PathPolicy{OwnFiles: ownFiles && len(roots) == 0, uid: os.Geteuid()}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("--root %s: %w", r, err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--root %s: not a directory", r)
		}
		p.Roots = append(p.Roots, abs)
	}
	if len(p.Roots) == 0 && !p.OwnFiles {
		return nil, nil
	}
	return p, nil
}

// Rule says the policy in a sentence, for messages.
func (p *PathPolicy) Rule() string {
	if len(p.Roots) > 0 {
		return "the server reads only files under --root " + strings.Join(p.Roots, ", ")
	}
	return fmt.Sprintf("a server on a socket reads only files its user (uid %d) owns or that anyone may read (--root DIR names the trees it may read instead)", p.uid)
}

// PathError is a client-named path the policy refuses.
type PathError struct {
	Attr, Path string // the launch attribute and the path as named
	Resolved   string // with symlinks and ".." resolved
	Why        string
	Rule       string
}

func (e *PathError) Error() string {
	via := ""
	if e.Resolved != "" && e.Resolved != e.Path {
		via = " (" + e.Resolved + ")"
	}
	return fmt.Sprintf("%s %s%s: %s: %s", e.Attr, e.Path, via, e.Why, e.Rule)
}

// Check checks one path a client named as attr.
func (p *PathPolicy) Check(attr, path string) error {
	_, err := p.resolve(attr, path)
	return err
}

// resolve checks one path and returns it resolved: the session opens
// what was checked, not a name whose symlinks could be changed between
// the check and the open. (A directory on the resolved path that another
// user may write to can still be raced; docs/security.md.)
func (p *PathPolicy) resolve(attr, path string) (string, error) {
	if p == nil || path == "" {
		return path, nil
	}
	res, err := p.check(attr, path)
	if err != nil {
		return "", err
	}
	return res, nil
}

func (p *PathPolicy) check(attr, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", &PathError{Attr: attr, Path: path, Why: err.Error(), Rule: p.Rule()}
	}
	res, err := filepath.EvalSymlinks(abs)
	if err != nil {
		// A path that does not resolve is refused here (it could be made
		// to resolve anywhere between this check and the open).
		why := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			why = "no such file or directory"
		}
		return "", &PathError{Attr: attr, Path: path, Why: why, Rule: p.Rule()}
	}
	if len(p.Roots) > 0 {
		for _, r := range p.Roots {
			if res == r || strings.HasPrefix(res, r+string(filepath.Separator)) || r == "/" {
				return res, nil
			}
		}
		return "", &PathError{Attr: attr, Path: path, Resolved: res, Why: "outside every --root", Rule: p.Rule()}
	}
	if p.OwnFiles {
		if why := p.notOwn(res); why != "" {
			return "", &PathError{Attr: attr, Path: path, Resolved: res, Why: why, Rule: p.Rule()}
		}
	}
	return res, nil
}

// notOwn says why a resolved path is neither the server user's nor one
// anyone may read ("" when it is allowed): a file (or directory) must be
// owned by the user or readable by others, and each directory above it
// owned by the user or searchable by others.
func (p *PathPolicy) notOwn(res string) string {
	st, err := os.Stat(res)
	if err != nil {
		return err.Error()
	}
	if owner(st) != p.uid && st.Mode().Perm()&0o004 == 0 {
		return fmt.Sprintf("owned by uid %d and not readable by others (mode %04o)", owner(st), st.Mode().Perm())
	}
	for d := filepath.Dir(res); ; d = filepath.Dir(d) {
		ds, err := os.Stat(d)
		if err != nil {
			return err.Error()
		}
		if owner(ds) != p.uid && ds.Mode().Perm()&0o001 == 0 {
			return fmt.Sprintf("in %s, owned by uid %d and not searchable by others (mode %04o)", d, owner(ds), ds.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

func owner(st os.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}

// checkLaunch checks every path of a launch's arguments and returns the
// arguments with each file resolved, and each log directory replaced by
// the log files found in it (each checked: a symlink in an allowed
// directory may point anywhere).
func (p *PathPolicy) checkLaunch(a LaunchArgs) (LaunchArgs, error) {
	if p == nil {
		return a, nil
	}
	var err error
	one := func(attr string, path *string) {
		if err == nil {
			*path, err = p.resolve(attr, *path)
		}
	}
	many := func(attr string, paths []string) {
		for _, x := range paths {
			if err == nil {
				err = p.Check(attr, x)
			}
		}
	}
	one("coreFile", &a.CoreFile)
	one("program", &a.Program)
	many("solibSearchPath", a.SolibSearchPath)
	if err == nil {
		err = p.Check("sysroot", a.Sysroot)
	}
	many("debugFileDirectory", a.DebugFileDirectory)
	many("logFiles", a.LogFiles)
	if err != nil {
		return a, err
	}
	if len(a.LogFiles) > 0 {
		logs := fault.ExpandLogs(a.LogFiles)
		for i := range logs {
			one("logFiles (a file of a named directory)", &logs[i])
		}
		a.LogFiles = logs
	}
	// A profile is a built-in name or a file; dmesg a kernel line or a
	// file: checked when it is not a built-in name and a file of that name
	// exists.
	if _, builtin := coroutines.Builtin()[a.Profile]; !builtin && exists(a.Profile) {
		one("profile", &a.Profile)
	}
	if a.AnalysisProfile != fault.DefaultProfileName && exists(a.AnalysisProfile) {
		one("analysisProfile", &a.AnalysisProfile)
	}
	if exists(a.Dmesg) {
		one("dmesg", &a.Dmesg)
	}
	return a, err
}

func exists(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Lstat(path)
	return err == nil
}
