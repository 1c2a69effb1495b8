package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dsecore/dsecore/analysis/dmesg"
	"github.com/dsecore/dsecore/report"
	"github.com/dsecore/dsecore/session"
	"github.com/spf13/cobra"
)

func newSymbolizeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "symbolize --lib LIB (--dmesg LINE | --offset 0xOFF | IP@BASE)",
		Short: "Explain an address of a library: function, inline chain, source line, disassembly",
		Long: `symbolize needs no core: it takes the library and one of
  --dmesg LINE   the kernel's "segfault at … ip … sp … error N in LIB[BASE+SIZE]" line
                 (also "LIB[OFFSET,BASE+SIZE]" of kernels 6.2+, and "traps:" lines);
                 the error code is explained and ip is placed in the file
  --offset OFF   a file address (what objdump and addr2line take)
  IP@BASE        a runtime address and the library's load address (the start of its
                 first mapping, as /proc/PID/maps or link_map show it)
and prints the function, the inline chain (like addr2line -i -f -C), the source
line, and an AT&T disassembly window with source lines and inline boundaries
interleaved (like objdump -dl), the address marked "=>".`,
		Example: `  dsecore symbolize --lib libdcache.so --dmesg 'Processer_5[2905610]: segfault at 0 ip 00007fd23b6e020f sp 00007fc79d505b60 error 4 in libdcache.so[7fd23ac16000+13d4000]'
  dsecore symbolize --lib libdcache.so --offset 0xaca20f
  dsecore symbolize --lib libdcache.so 0x7fd23b6e020f@0x7fd23ac16000 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSymbolize(cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
		},
	}
	f := cmd.Flags()
	f.String("lib", "", "the library (or executable) file (required)")
	f.String("dmesg", "", "a kernel segfault/trap line")
	f.String("offset", "", "a file address in the library")
	f.String("before", "0x40", "bytes of disassembly before the address")
	f.String("after", "0x40", "bytes of disassembly after the address")
	pathsFlag(cmd, "debug-file-directory", "root of separate debug files (default /usr/lib/debug)")
	f.Bool("json", false, "print JSON")
	return cmd
}

func parseNum(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	if strings.IndexFunc(s, func(r rune) bool { return (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F') }) >= 0 {
		return strconv.ParseUint(s, 16, 64) // dmesg-style bare hex
	}
	return strconv.ParseUint(s, 0, 64)
}

func runSymbolize(out, errw io.Writer, args []string) error {
	libPath := config.GetString("lib")
	if libPath == "" {
		return errors.New("symbolize: --lib is required")
	}
	line, offset := config.GetString("dmesg"), config.GetString("offset")
	n := 0
	for _, given := range []bool{line != "", offset != "", len(args) == 1} {
		if given {
			n++
		}
	}
	if n != 1 {
		return errors.New("symbolize: give exactly one of --dmesg LINE, --offset OFF or IP@BASE")
	}
	before, err := parseNum(config.GetString("before"))
	if err != nil {
		return fmt.Errorf("--before: %w", err)
	}
	after, err := parseNum(config.GetString("after"))
	if err != nil {
		return fmt.Errorf("--after: %w", err)
	}
	lib, err := session.OpenLibrary(libPath, session.Options{DebugFileDirs: getPaths("debug-file-directory")})
	if err != nil {
		return err
	}
	defer lib.Close()

	var addr uint64
	var fault *dmesg.Fault
	var place *dmesg.Placement
	switch {
	case line != "":
		fault, err = dmesg.Parse(line)
		if err != nil {
			return err
		}
		if fault.Object == "" {
			return fmt.Errorf("the kernel line names no object (\"in LIB[BASE+SIZE]\"): cannot place ip %#x", fault.IP)
		}
		pl, err := fault.Place(lib.File)
		if err != nil {
			return fmt.Errorf("placing ip %#x in %s: %w", fault.IP, libPath, err)
		}
		place, addr = &pl, pl.FileAddr
	case offset != "":
		if addr, err = parseNum(offset); err != nil {
			return fmt.Errorf("--offset: %w", err)
		}
	default:
		ip, base, ok := strings.Cut(args[0], "@")
		if !ok {
			return fmt.Errorf("%q: want IP@BASE", args[0])
		}
		ipv, err1 := parseNum(ip)
		basev, err2 := parseNum(base)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%q: %w", args[0], err)
		}
		first := firstLoad(lib.File)
		if ipv < basev {
			return fmt.Errorf("ip %#x is below the base %#x", ipv, basev)
		}
		addr = ipv - basev + first
		place = &dmesg.Placement{FileAddr: addr, Bias: basev - first}
	}

	doc := report.BuildSymbolize(lib, addr, before, after)
	if fault != nil {
		doc.Dmesg = report.DmesgDoc(fault)
		if fault.Object != "" && !strings.Contains(libPath, fault.Object) && !strings.Contains(fault.Object, baseName(libPath)) {
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("the kernel blamed %s but --lib is %s", fault.Object, libPath))
		}
	}
	if place != nil {
		doc.Bias = report.Hex(place.Bias)
		if fault != nil {
			doc.Naive = report.Hex(place.Naive)
		}
	}
	if config.GetBool("json") {
		return writeJSON(out, doc)
	}
	report.WriteWarnings(errw, doc.Warnings)
	printSymbolize(out, doc, fault)
	return nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// firstLoad is the page-aligned file address of the first PT_LOAD: what the
// load base (start of the first mapping) corresponds to.
func firstLoad(f *elf.File) uint64 {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			return p.Vaddr &^ 0xfff
		}
	}
	return 0
}

func printSymbolize(w io.Writer, doc *report.Symbolize, fault *dmesg.Fault) {
	if d := doc.Dmesg; d != nil {
		fmt.Fprintf(w, "kernel: %s[%d] %s", d.Comm, d.TID, d.Kind)
		if d.Addr != "" {
			fmt.Fprintf(w, " at %s", d.Addr)
		}
		fmt.Fprintf(w, " ip %s sp %s\n", d.IP, d.SP)
		fmt.Fprintf(w, "  %s\n", d.Explanation)
		if fault.HasAddr && fault.Addr < 4096 {
			fmt.Fprintf(w, "  the address %s is in the first page: a NULL pointer dereference (or a small offset from one)\n", d.Addr)
		}
		if d.Object != "" {
			fmt.Fprintf(w, "  in %s mapped at %s (+%s)\n", d.Object, d.VMAStart, d.VMASize)
		}
	}
	fmt.Fprintf(w, "library: %s (build-id %s)\n", doc.Library, doc.BuildID)
	if doc.DebugFile != "" {
		fmt.Fprintf(w, "  debug info: %s\n", doc.DebugFile)
	}
	if doc.Bias != "" {
		fmt.Fprintf(w, "  load bias %s: file address %s", doc.Bias, doc.Address)
		if doc.Naive != "" && doc.Naive != doc.Address {
			fmt.Fprintf(w, " (ip − mapping start = %s is NOT the file address for this layout)", doc.Naive)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%s is %s\n", doc.Address, orUnknown(doc.Symbol))
	for i, f := range doc.Frames {
		prefix := "  in "
		if i > 0 {
			prefix = "  inlined into "
			if !doc.Frames[i-1].Inline {
				prefix = "  in "
			}
		}
		s := prefix + f.Function
		if f.File != "" {
			s += fmt.Sprintf(" at %s:%d", f.File, f.Line)
		}
		if f.Inline {
			s += " [inlined]"
		}
		fmt.Fprintln(w, s)
	}
	if doc.Listing != "" {
		fmt.Fprintf(w, "\nDisassembly (AT&T), %s marked =>:\n%s", doc.Address, doc.Listing)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "?? (no symbol)"
	}
	return s
}
