// Package debuginfodtest gives tests a debuginfod server of their own on
// 127.0.0.1 (the protocol's GET /buildid/HEX/debuginfo and /executable,
// served from files it was given), a dead one (it takes requests and never
// answers), and a stripped copy of a fixture build whose debug files only
// the server has.
package debuginfodtest

import (
	"debug/elf"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

// Server is a debuginfod server that counts what it was asked.
type Server struct {
	URL string
	srv *http.Server

	mu    sync.Mutex
	files map[string]string // "HEX/debuginfo" → path
	asked []string
}

var pathRE = regexp.MustCompile(`^/buildid/([0-9a-f]+)/(executable|debuginfo)$`)

// Start serves files (key "HEX/debuginfo" or "HEX/executable") until the
// test ends.
func Start(t testing.TB, files map[string]string) *Server {
	t.Helper()
	s := &Server{files: files}
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.URL.Path)
		s.mu.Unlock()
		m := pathRE.FindStringSubmatch(r.URL.Path)
		if m == nil {
			http.NotFound(w, r)
			return
		}
		p, ok := s.files[m[1]+"/"+m[2]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		// As debuginfod does: the length first (a client may refuse a
		// file over its limit from it).
		if st, err := f.Stat(); err == nil {
			w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
		}
		io.Copy(w, f)
	}))
	t.Cleanup(h.Close)
	s.URL = h.URL
	return s
}

// StartDead is a server that accepts every request and never answers (a
// hung debuginfod): a client gives up at its timeout.
func StartDead(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	stop := make(chan struct{})
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.URL.Path)
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(func() { close(stop); h.Close() })
	s.URL = h.URL
	return s
}

// Asked is every path requested so far.
func (s *Server) Asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// Stripped is a fixture build without its DWARF: the executable and the
// library stripped of debug sections (build-ids kept) in Dir, their debug
// files elsewhere, known only to the server's file map.
type Stripped struct {
	Dir      string // the stripped ceph-dse and libdcache.so (a solib search path)
	Exe, Lib string
	// Files is a debuginfod file map: "HEX/debuginfo" → debug file.
	Files map[string]string
	// ExeID, LibID are the build-ids.
	ExeID, LibID string
}

// Strip makes a stripped copy of exe and lib (objcopy --strip-debug; the
// debug files by objcopy --only-keep-debug).
func Strip(t testing.TB, exe, lib string) *Stripped {
	t.Helper()
	dir, dbg := t.TempDir(), t.TempDir()
	st := &Stripped{Dir: dir, Files: map[string]string{}}
	for _, src := range []string{exe, lib} {
		out := filepath.Join(dir, filepath.Base(src))
		debug := filepath.Join(dbg, filepath.Base(src)+".debug")
		for _, args := range [][]string{{"--only-keep-debug", src, debug}, {"--strip-debug", src, out}} {
			if b, err := exec.Command("objcopy", args...).CombinedOutput(); err != nil {
				t.Fatalf("objcopy %v: %v\n%s (binutils: scripts/setup.sh installs it)", args, err, b)
			}
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if f.Section(".debug_info") != nil {
			t.Fatalf("%s still has .debug_info", out)
		}
		id := hex.EncodeToString(symbols.BuildID(f))
		f.Close()
		if id == "" {
			t.Fatalf("%s has no build-id", out)
		}
		st.Files[id+"/debuginfo"] = debug
		if src == exe {
			st.Exe, st.ExeID = out, id
		} else {
			st.Lib, st.LibID = out, id
		}
	}
	return st
}
