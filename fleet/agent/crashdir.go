package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dsecore/dsecore/analysis/cephcrash"
	"github.com/dsecore/dsecore/batch"
	"github.com/dsecore/dsecore/fleet/cluster"
	"golang.org/x/sys/unix"
)

// A Ceph crash directory, as Ceph writes and ceph-crash reads it
// (src/global/signal_handler.cc, src/ceph-crash.in):
//
//   - the daemon's fatal-signal handler makes <crash_dir>/<crash_id>/
//     (0700), writes meta (0600), its recent log, then done (0444), then
//     re-raises the signal: the kernel writes the core after it;
//   - ceph-crash, every --delay minutes (10 by default), posts each entry
//     with meta and done (`ceph crash post -i -`) and renames it into
//     posted/ (an entry with meta but no done makes it wait a second and
//     then end that whole scan; a posted/<name> already there makes the
//     rename, and so every later scan, fail);
//   - the mgr's crash module keeps the first report of a crash_id it is
//     sent and ignores later ones: a post never replaces.
//
// So the agent holds a daemon's report back from ceph-crash while its core
// may still come (meta renamed to meta.dsecore-hold: to ceph-crash an entry
// without meta is nothing), puts its analysis into it, and gives it back
// (meta again, written whole through a rename). A new report (no daemon's
// report of the crash) gets done before its meta appears.
const (
	metaFile = "meta"
	doneFile = "done"
	holdFile = "meta.dsecore-hold"
	posted   = "posted"
)

// scanCrashDirs holds the daemons' new reports (and takes back holds a
// killed agent left).
func (a *Agent) scanCrashDirs() {
	for _, dir := range a.cfg.CrashDirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() || e.Name() == posted || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			entry := filepath.Join(dir, e.Name())
			if !realDir(entry) {
				continue
			}
			hold, meta := filepath.Join(entry, holdFile), filepath.Join(entry, metaFile)
			_, herr := os.Stat(hold)
			_, merr := os.Stat(meta)
			switch {
			case herr == nil && merr == nil:
				// The enriched meta was renamed in; the hold was not yet removed.
				os.Remove(hold)
				delete(a.st.Holds, entry)
			case herr == nil:
				if a.st.Holds[entry] == nil {
					a.adopt(entry, hold)
				}
			case merr == nil && a.st.Holds[entry] == nil && a.st.Given[entry].IsZero():
				if _, err := os.Stat(filepath.Join(entry, doneFile)); err != nil {
					continue // the daemon is still writing it
				}
				b, err := readReport(meta)
				if err != nil || len(b) > 4<<20 || bytes.Contains(b, []byte(`"dsecore_`)) {
					continue // analysed already (or not a report to hold)
				}
				if err := os.Rename(meta, hold); err != nil {
					continue // ceph-crash moved it: posted
				}
				a.adopt(entry, hold)
				a.cfg.Log("holding %s's report %s for its core", a.st.Holds[entry].ProcessName, e.Name())
			}
		}
	}
}

// adopt records a hold from its file.
func (a *Agent) adopt(entry, hold string) {
	h := &Hold{Entry: entry, CrashID: filepath.Base(entry), Since: time.Now()}
	if b, err := readReport(hold); err == nil {
		var m struct {
			CrashID     string `json:"crash_id"`
			Timestamp   string `json:"timestamp"`
			ProcessName string `json:"process_name"`
		}
		if json.Unmarshal(b, &m) == nil {
			if m.CrashID != "" {
				h.CrashID = m.CrashID
			}
			h.ProcessName = m.ProcessName
			h.Time, _ = cluster.Time(m.Timestamp)
		}
	}
	a.st.Holds[entry] = h
}

// releaseHolds gives back to ceph-crash the held reports no core can
// still claim: held longer than HoldTimeout, and no core not yet analysed
// that is of the same process and not older than the report.
func (a *Agent) releaseHolds() int {
	n := 0
	for entry := range a.st.Given {
		if !realDir(entry) {
			delete(a.st.Given, entry) // posted (moved) or removed
		}
	}
	for entry, h := range a.st.Holds {
		hold := filepath.Join(entry, holdFile)
		if _, err := os.Stat(hold); err != nil {
			// ceph-crash read the meta just before it was held, posted it
			// and moved the entry: its posted/ copy gets its meta back.
			moved := filepath.Join(filepath.Dir(entry), posted, filepath.Base(entry))
			if _, err := os.Stat(filepath.Join(moved, holdFile)); err == nil {
				if _, err := os.Stat(filepath.Join(moved, metaFile)); err != nil && !a.awaited(h) {
					os.Rename(filepath.Join(moved, holdFile), filepath.Join(moved, metaFile))
				} else if err != nil {
					continue // its core may still come: kept to be matched
				}
			}
			delete(a.st.Holds, entry) // given back (or the entry removed)
			continue
		}
		if time.Since(h.Since) < a.cfg.HoldTimeout || a.awaited(h) {
			continue
		}
		if err := os.Rename(hold, filepath.Join(entry, metaFile)); err != nil {
			a.cfg.Log("giving back %s: %v", entry, err)
			continue
		}
		delete(a.st.Holds, entry)
		a.st.Given[entry] = time.Now()
		n++
		if a.cfg.Post {
			// The agent does ceph-crash's work on this node.
			if b, err := readReport(filepath.Join(entry, metaFile)); err == nil {
				if _, err := a.post(context.Background(), delivered{}, entry, b); err != nil {
					a.cfg.Log("posting %s: %v", entry, err)
				}
			}
		}
		a.cfg.Log("gave back %s's report %s to ceph-crash: no core of it came within %s", h.ProcessName, h.CrashID, a.cfg.HoldTimeout)
	}
	return n
}

// awaited: a core not yet analysed may be the held report's crash.
func (a *Agent) awaited(h *Hold) bool {
	for _, cs := range a.st.Cores {
		if cs.Status != Seen && cs.Status != Running {
			continue
		}
		if cs.ProcessName != "" && h.ProcessName != "" && !sameProcess(cs.ProcessName, h.ProcessName) {
			continue
		}
		if !h.Time.IsZero() && cs.FirstSeen.Before(h.Time.Add(-time.Minute)) {
			continue
		}
		return true
	}
	return false
}

// sameProcess compares a comm (15 characters at most) with Ceph's
// process_name.
func sameProcess(comm, name string) bool {
	if len(name) > 15 {
		name = name[:15]
	}
	if len(comm) > 15 {
		comm = comm[:15]
	}
	return comm == name
}

// delivered says where a core's report went.
type delivered struct {
	crashID  string
	where    string // the crash directory entry, or "posted"
	enriched bool   // the daemon's own report, with the analysis in it
	warnings []string
}

// candidate is a daemon's report that may be a core's.
type candidate struct {
	entry  string // its crash directory entry
	file   string // its meta (or hold) file
	meta   []byte
	posted bool
}

// candidates are the daemons' reports of crashes near t: held, not yet
// held, and posted within a day of t (their crash_id starts with their
// time).
func (a *Agent) candidates(t time.Time) []candidate {
	var out []candidate
	for entry := range a.st.Holds {
		if b, err := readReport(filepath.Join(entry, holdFile)); err == nil {
			out = append(out, candidate{entry: entry, file: filepath.Join(entry, holdFile), meta: b})
			continue
		}
		// Posted by ceph-crash as it was being held (see releaseHolds).
		moved := filepath.Join(filepath.Dir(entry), posted, filepath.Base(entry))
		if b, err := readReport(filepath.Join(moved, holdFile)); err == nil {
			out = append(out, candidate{entry: moved, file: filepath.Join(moved, holdFile), meta: b, posted: true})
		}
	}
	for _, dir := range a.cfg.CrashDirs {
		for _, sub := range []string{"", posted} {
			ents, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, e := range ents {
				if !e.IsDir() || e.Name() == posted || strings.HasPrefix(e.Name(), ".") || !near(e.Name(), t) {
					continue
				}
				entry := filepath.Join(dir, sub, e.Name())
				file := filepath.Join(entry, metaFile)
				b, err := readReport(file)
				if err != nil || len(b) > 4<<20 || bytes.Contains(b, []byte(`"dsecore_`)) {
					continue
				}
				out = append(out, candidate{entry: entry, file: file, meta: b, posted: sub == posted})
			}
		}
	}
	return out
}

// near: an entry named <time>_<uuid> (as Ceph names them) is of a crash
// within a day of t.
func near(name string, t time.Time) bool {
	ts, _, _ := strings.Cut(name, "_")
	at, err := cluster.Time(ts)
	return err != nil || t.IsZero() || at.Sub(t).Abs() < 24*time.Hour
}

// own finds the daemon's own report of a core's crash: by its backtrace's
// addresses (cephcrash.MatchOwn) when the analysis has Ceph's backtrace;
// for a core that could not be analysed, the one unposted report of the
// same process within five minutes of it.
func (a *Agent) own(c batch.Core) (*candidate, string) {
	cands := a.candidates(c.Time)
	if c.Ceph != nil && len(c.Ceph.Backtrace) > 0 {
		for i := range cands {
			if m := cephcrash.MatchOwn(cands[i].meta, c.Ceph.Backtrace); m != nil {
				return &cands[i], m.Matched
			}
		}
		a.cfg.Log("%s: none of the %d daemons' reports near its time is its crash's", c.Path, len(cands))
		return nil, ""
	}
	var found *candidate
	for i := range cands {
		var m struct {
			Timestamp   string `json:"timestamp"`
			ProcessName string `json:"process_name"`
		}
		if cands[i].posted || json.Unmarshal(cands[i].meta, &m) != nil || c.Process == "" || !sameProcess(c.Process, m.ProcessName) {
			continue
		}
		if t, err := cluster.Time(m.Timestamp); err != nil || t.Sub(c.Time).Abs() > 5*time.Minute {
			continue
		}
		if found != nil {
			return nil, "" // two could be: neither is taken
		}
		found = &cands[i]
	}
	if found == nil {
		return nil, ""
	}
	return found, "the only report of " + c.Process + " within five minutes of the core"
}

// deliver puts a core's report where the cluster gets it: into the
// daemon's own report of the crash when there is one, else as a new
// report; one crash, one report.
func (a *Agent) deliver(ctx context.Context, c batch.Core) (delivered, error) {
	if d, ok := a.delivered(ctx, c); ok {
		return d, nil
	}
	if cand, why := a.own(c); cand != nil {
		return a.enrich(ctx, c, cand, why)
	}
	meta := batch.CephCrashMeta(c)
	id := batch.CephCrashID(c)
	d := delivered{crashID: id}
	if len(a.cfg.CrashDirs) == 0 {
		d.where = "posted"
		return d, a.cfg.Ceph.Post(ctx, meta)
	}
	dir := a.cfg.CrashDirs[0]
	entry := filepath.Join(dir, id)
	d.where = entry
	if _, err := os.Stat(filepath.Join(dir, posted, id)); err == nil {
		d.where = filepath.Join(dir, posted, id) // written and posted before a restart
		return d, nil
	}
	// The entry belongs to whoever owns the crash directory (ceph: the
	// daemons write their reports as ceph, and ceph-crash drops to ceph
	// before it reads them), with the modes Ceph's handler gives it.
	uid, gid := owner(dir)
	if err := os.Mkdir(entry, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return d, err
	}
	if !realDir(entry) {
		return d, fmt.Errorf("%s is not a directory of its own (a symbolic link?): not written", entry)
	}
	if err := os.Lchown(entry, uid, gid); err != nil {
		return d, err
	}
	// done first: ceph-crash must never find this meta without it.
	if err := writeFileOwned(filepath.Join(entry, doneFile), nil, 0o444, uid, gid); err != nil {
		return d, err
	}
	if err := writeFileOwned(filepath.Join(entry, metaFile), meta, 0o600, uid, gid); err != nil {
		return d, err
	}
	if a.cfg.Post {
		return a.post(ctx, d, entry, meta)
	}
	return d, nil
}

// delivered finds the report of a core an agent wrote before it was
// stopped (killed after writing it, before its state said so): by the
// core's key in the reports of the crash directories.
func (a *Agent) delivered(ctx context.Context, c batch.Core) (delivered, bool) {
	key := []byte(`"dsecore_core_key": "` + batch.CephCrashCoreKey(c) + `"`)
	for _, dir := range a.cfg.CrashDirs {
		for _, sub := range []string{"", posted} {
			ents, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, e := range ents {
				if !e.IsDir() || e.Name() == posted || !near(e.Name(), c.Time) {
					continue
				}
				entry := filepath.Join(dir, sub, e.Name())
				b, err := readReport(filepath.Join(entry, metaFile))
				if err != nil || !bytes.Contains(b, key) {
					continue
				}
				var m struct {
					CrashID string `json:"crash_id"`
				}
				json.Unmarshal(b, &m)
				d := delivered{crashID: m.CrashID, where: entry, enriched: m.CrashID != batch.CephCrashID(c)}
				d.warnings = append(d.warnings, "its report was written before the agent was stopped: kept as it is")
				os.Remove(filepath.Join(entry, holdFile))
				delete(a.st.Holds, entry)
				if a.cfg.Post && sub == "" {
					d, _ = a.post(ctx, d, entry, b)
				}
				return d, true
			}
		}
	}
	return delivered{}, false
}

// post posts an entry's report and moves the entry to posted/, as
// ceph-crash does.
func (a *Agent) post(ctx context.Context, d delivered, entry string, meta []byte) (delivered, error) {
	if err := a.cfg.Ceph.Post(ctx, meta); err != nil {
		return d, err
	}
	dst := filepath.Join(filepath.Dir(entry), posted, filepath.Base(entry))
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.Rename(entry, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.warnings = append(d.warnings, fmt.Sprintf("posted, but not moved to posted/: %v", err))
		return d, nil
	}
	d.where = dst
	return d, nil
}

// enrich puts a core's analysis into the daemon's own report.
func (a *Agent) enrich(ctx context.Context, c batch.Core, cand *candidate, why string) (delivered, error) {
	meta, err := batch.CephCrashEnrich(cand.meta, c)
	if err != nil {
		return delivered{}, err
	}
	var m struct {
		CrashID string `json:"crash_id"`
	}
	json.Unmarshal(cand.meta, &m)
	d := delivered{crashID: m.CrashID, where: cand.entry, enriched: true}
	a.cfg.Log("%s: the daemon's report %s is this crash's (%s)", c.Path, m.CrashID, why)
	if !cand.posted {
		uid, gid := owner(cand.file) // the daemon's
		err := writeFileOwned(filepath.Join(cand.entry, metaFile), meta, 0o600, uid, gid)
		if err == nil {
			os.Remove(filepath.Join(cand.entry, holdFile))
			delete(a.st.Holds, cand.entry)
			if a.cfg.Post {
				return a.post(ctx, d, cand.entry, meta)
			}
			return d, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return d, err
		}
		// ceph-crash posted it and moved it while the core was read.
		delete(a.st.Holds, cand.entry)
		cand.entry = filepath.Join(filepath.Dir(cand.entry), posted, filepath.Base(cand.entry))
	}
	// The cluster has the daemon's report without the analysis (ceph-crash
	// posted it first). A post does not replace a report: it is removed,
	// then posted again with the analysis (and archived if it was). The
	// node's posted/ copy and the hold are updated only after that: an
	// agent killed in between finds the report still to be replaced.
	d.where = cand.entry
	warning, err := a.replaceInCluster(ctx, m.CrashID, meta, c)
	if err != nil {
		return d, err
	}
	if warning != "" {
		d.warnings = append(d.warnings, warning)
	}
	uid, gid := owner(cand.entry)
	if err := writeFileOwned(filepath.Join(cand.entry, metaFile), meta, 0o600, uid, gid); err != nil {
		d.warnings = append(d.warnings, fmt.Sprintf("the posted entry %s: %v", cand.entry, err))
	}
	os.Remove(filepath.Join(cand.entry, holdFile))
	delete(a.st.Holds, filepath.Join(filepath.Dir(filepath.Dir(cand.entry)), filepath.Base(cand.entry)))
	return d, nil
}

// replaceInCluster makes the cluster's report of crash id the enriched
// one: posted if the cluster lacks it, removed and posted again if its
// copy lacks the analysis (the cluster's own copy enriched: archived stays
// archived). A cluster that cannot be asked, or a key without the crash
// module's rm, is a warning: the node's copy has the analysis.
func (a *Agent) replaceInCluster(ctx context.Context, id string, meta []byte, c batch.Core) (string, error) {
	info, found, err := a.cfg.Ceph.Info(ctx, id)
	if err != nil {
		return fmt.Sprintf("the daemon's report %s was posted before the analysis, and the cluster cannot be asked for it (%v): its copy lacks the analysis", id, err), nil
	}
	if found {
		if bytes.Contains(info, []byte(`"dsecore_`)) {
			return "", nil // replaced before a restart
		}
		if repl, err := batch.CephCrashEnrich(info, c); err == nil {
			meta = repl
		}
		if err := a.cfg.Ceph.Rm(ctx, id); err != nil {
			return fmt.Sprintf("the daemon's report %s was posted before the analysis; it could not be replaced (%v): the agent's key needs the crash module's rm command", id, err), nil
		}
	}
	if err := a.cfg.Ceph.Post(ctx, meta); err != nil {
		return "", fmt.Errorf("posting %s again with the analysis: %w", id, err)
	}
	return fmt.Sprintf("the daemon's report %s was posted before the analysis: replaced in the cluster with the analysis in it", id), nil
}

// The crash directory belongs to ceph, and so does what is in it: what
// the agent (root) reads there is opened without following a symbolic
// link, must be a regular file and is bounded; an entry must be a real
// directory (not a link elsewhere); what it writes there is created anew
// (O_EXCL|O_NOFOLLOW: a planted link is not followed) and renamed in.

// readReport reads a report file of a crash directory.
func readReport(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > 4<<20 {
		return nil, fmt.Errorf("%s: not a report (a regular file of at most 4 MiB)", path)
	}
	return io.ReadAll(io.LimitReader(f, 4<<20))
}

// realDir: path is a directory, not a symbolic link to one.
func realDir(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.IsDir()
}

// owner is the uid and gid of a file (-1, -1 when it cannot be read).
func owner(path string) (int, int) {
	st, err := os.Stat(path)
	if err != nil {
		return -1, -1
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid), int(s.Gid)
	}
	return -1, -1
}

// coredumpXattrs are systemd-coredump's user.coredump.* attributes of a
// core (pid, uid, gid, signal, timestamp, rlimit, hostname, comm, exe, …),
// without the prefix; none for other files.
func coredumpXattrs(path string) map[string]string {
	out := map[string]string{}
	buf := make([]byte, 4096)
	n, err := unix.Listxattr(path, buf)
	if err != nil || n <= 0 {
		return out
	}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		k, ok := strings.CutPrefix(name, "user.coredump.")
		if !ok {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Getxattr(path, name, v)
		if err != nil || m < 0 {
			continue
		}
		out[k] = strings.TrimRight(string(v[:m]), "\x00")
	}
	return out
}
