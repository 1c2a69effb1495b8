package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Status of a core in the agent's state.
const (
	Seen     = "seen"     // found, not yet complete
	Running  = "running"  // an analysis was started (and, after a restart, interrupted)
	Done     = "done"     // analysed, its report written
	Failed   = "failed"   // could not be analysed: reported with Reason
	Released = "released" // a held report given back to ceph-crash
)

// CoreState is what the agent knows of one core, by path; a different
// size or time at the same path is a new core.
type CoreState struct {
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	MTime       time.Time `json:"mtime"`
	Status      string    `json:"status"`
	FirstSeen   time.Time `json:"first_seen"`
	ObservedAt  time.Time `json:"observed_at"` // when Size and MTime were last seen to change (or first seen)
	Attempts    int       `json:"attempts,omitempty"`
	CrashID     string    `json:"crash_id,omitempty"`
	Report      string    `json:"report,omitempty"` // where its report went: a crash directory entry, or "posted"
	Enriched    bool      `json:"enriched,omitempty"`
	Verdict     string    `json:"verdict,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Warnings    []string  `json:"warnings,omitempty"`
	Finished    time.Time `json:"finished,omitzero"`
	ProcessName string    `json:"process_name,omitempty"`
}

// Hold is a daemon's own report held back from ceph-crash (its meta renamed
// to meta.dsecore-hold) while its core may still come.
type Hold struct {
	Entry       string    `json:"entry"` // the crash directory entry
	CrashID     string    `json:"crash_id"`
	ProcessName string    `json:"process_name"`
	Time        time.Time `json:"time"` // the report's timestamp
	Since       time.Time `json:"since"`
}

// State is the agent's memory, in StateDir/state.json, written whole
// through a rename after every change.
type State struct {
	Version int                   `json:"version"`
	Cores   map[string]*CoreState `json:"cores"`
	Holds   map[string]*Hold      `json:"holds"`
	// Given are the reports given back to ceph-crash unanalysed: never
	// held again (forgotten once ceph-crash has moved them).
	Given map[string]time.Time `json:"given,omitempty"`
	path  string
}

const stateVersion = 1

func loadState(dir string) (*State, error) {
	s := &State{Version: stateVersion, Cores: map[string]*CoreState{}, Holds: map[string]*Hold{}, Given: map[string]time.Time{},
		path: filepath.Join(dir, "state.json")}
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w (move it away to start afresh: every core would be analysed again)", s.path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s: state version %d, this agent writes %d", s.path, s.Version, stateVersion)
	}
	if s.Cores == nil {
		s.Cores = map[string]*CoreState{}
	}
	if s.Holds == nil {
		s.Holds = map[string]*Hold{}
	}
	if s.Given == nil {
		s.Given = map[string]time.Time{}
	}
	return s, nil
}

func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, b, 0o600)
}

// writeFileAtomic writes path through a temporary file beside it, synced,
// then renamed over it: a reader sees the old file or the new, whole.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	return writeFileOwned(path, b, mode, -1, -1)
}

// writeFileOwned is writeFileAtomic with the file given to uid:gid (-1:
// the writer's).
func writeFileOwned(path string, b []byte, mode os.FileMode, uid, gid int) error {
	tmp := path + ".dsecore-new"
	os.Remove(tmp) // a leftover (or a planted link: removed, never followed)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	if uid >= 0 || gid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			os.Remove(tmp)
			return err
		}
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
