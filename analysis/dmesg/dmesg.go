// Package dmesg understands the kernel's one-line reports of user-space
// faults, the first clue a ceph-dse crash usually leaves:
//
//	[Fri Jan 29 17:56:02 2021] Processer_5[2905610]: segfault at 0 ip 00007fd23b6e020f
//	    sp 00007fc79d505b60 error 4 in libdcache.so[7fd23ac16000+13d4000]
//	traps: ceph-dse[42] general protection fault ip:7f.. sp:7f.. error:0 in libdcache.so[7f..+1d000]
//
// It parses them, explains the x86 page-fault error code, and maps the
// faulting ip to a file address in the named library.
package dmesg

import (
	"debug/elf"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Fault is one parsed kernel fault line.
type Fault struct {
	Comm      string // thread name the kernel printed (comm)
	TID       int    // the thread id in brackets
	Kind      string // "segfault", "general protection fault", "trap …"
	Addr      uint64 // the faulting data address ("segfault at …"); 0 for traps
	HasAddr   bool
	IP        uint64
	SP        uint64
	ErrorCode uint64
	Object    string // "libdcache.so"
	VMAStart  uint64 // start of the VMA holding ip (the kernel's BASE)
	VMASize   uint64
	// FileOffset is ip's offset in the object file, printed by kernels
	// since 6.2 as "in lib[OFFSET,BASE+SIZE]".
	FileOffset    uint64
	HasFileOffset bool
	Raw           string
}

var (
	segfaultRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?:^|\s|\])\s*([^\s\[\]]+)\[(\d+)\]: segfault at ([0-9a-fA-F]+) ip ([0-9a-fA-F]+) sp ([0-9a-fA-F]+) error ([0-9a-fA-F]+)(?: in ([^\s\[]+)\[(?:([0-9a-fA-F]+),)?([0-9a-fA-F]+)\+([0-9a-fA-F]+)\])?`)
	})
	trapRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`([^\s\[\]]+)\[(\d+)\] ([a-z ]+?) ip:([0-9a-fA-F]+) sp:([0-9a-fA-F]+) error:([0-9a-fA-F]+)(?: in ([^\s\[]+)\[(?:([0-9a-fA-F]+),)?([0-9a-fA-F]+)\+([0-9a-fA-F]+)\])?`)
	})
)

// MaxLine bounds the lines Parse reads: printk lines are at most 1024 bytes,
// a timestamp and a syslog prefix add a few dozen.
const MaxLine = 4096

// ErrNotAFault is returned for lines that are not kernel fault reports.
var ErrNotAFault = errors.New("not a kernel segfault/trap line")

// Parse reads one line of dmesg or /var/log/messages output.
func Parse(line string) (*Fault, error) {
	line = strings.TrimSpace(line)
	if len(line) > MaxLine {
		return nil, fmt.Errorf("%w: a line of %d bytes (a kernel line is at most %d)", ErrNotAFault, len(line), MaxLine)
	}
	hex := func(s string) uint64 { v, _ := strconv.ParseUint(s, 16, 64); return v }
	if m := segfaultRE().FindStringSubmatch(line); m != nil {
		tid, _ := strconv.Atoi(m[2])
		f := &Fault{Comm: m[1], TID: tid, Kind: "segfault", Addr: hex(m[3]), HasAddr: true,
			IP: hex(m[4]), SP: hex(m[5]), ErrorCode: hex(m[6]), Object: m[7], Raw: line}
		f.setObject(m[7:], hex)
		return f, nil
	}
	if m := trapRE().FindStringSubmatch(line); m != nil {
		tid, _ := strconv.Atoi(m[2])
		f := &Fault{Comm: m[1], TID: tid, Kind: strings.TrimSpace(m[3]), IP: hex(m[4]), SP: hex(m[5]),
			ErrorCode: hex(m[6]), Object: m[7], Raw: line}
		f.setObject(m[7:], hex)
		return f, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNotAFault, line)
}

func (f *Fault) setObject(m []string, hex func(string) uint64) {
	if m[0] == "" {
		return
	}
	if m[1] != "" {
		f.FileOffset, f.HasFileOffset = hex(m[1]), true
	}
	f.VMAStart, f.VMASize = hex(m[2]), hex(m[3])
}

// ExplainError spells out an x86 page-fault error code (arch/x86 X86_PF_*).
func ExplainError(code uint64) string {
	var parts []string
	if code&1 == 0 {
		parts = append(parts, "no page mapped at the address")
	} else {
		parts = append(parts, "protection violation on a mapped page")
	}
	if code&2 != 0 {
		parts = append(parts, "write")
	} else {
		parts = append(parts, "read")
	}
	if code&4 != 0 {
		parts = append(parts, "in user mode")
	} else {
		parts = append(parts, "in kernel mode")
	}
	if code&8 != 0 {
		parts = append(parts, "reserved bit set in a page table entry")
	}
	if code&16 != 0 {
		parts = append(parts, "instruction fetch")
	}
	if code&32 != 0 {
		parts = append(parts, "protection-key violation")
	}
	if code&0x8000 != 0 {
		parts = append(parts, "SGX")
	}
	return fmt.Sprintf("error %d = %s", code, strings.Join(parts, ", "))
}

// Placement says where the faulting ip lies in a library file.
type Placement struct {
	FileAddr uint64 // the ip as a file address (what objdump and addr2line take)
	Bias     uint64 // the library's load bias in the process
	Segment  int    // index of the executable PT_LOAD that held ip
	// Naive is ip − VMA start, the offset a person computes by hand (step 1
	// of the field report). It equals FileAddr only when the executable
	// segment is the first one, as in older link layouts.
	Naive uint64
}

// Place maps the fault's ip into the library file. With the kernel's file
// offset (6.2+) the PT_LOAD holding that offset gives the address exactly;
// otherwise the kernel's VMA is the mapping of the executable PT_LOAD that
// contains ip, so the file address is that segment's page-aligned start plus
// ip's offset in the VMA.
func (fl *Fault) Place(f *elf.File) (Placement, error) {
	if fl.HasFileOffset {
		for i, p := range f.Progs {
			if p.Type == elf.PT_LOAD && fl.FileOffset >= p.Off && fl.FileOffset < p.Off+p.Filesz {
				addr := p.Vaddr + (fl.FileOffset - p.Off)
				return Placement{FileAddr: addr, Bias: fl.IP - addr, Segment: i, Naive: fl.IP - fl.VMAStart}, nil
			}
		}
		return Placement{}, fmt.Errorf("file offset %#x is in no PT_LOAD of the file", fl.FileOffset)
	}
	return Place(f, fl.VMAStart, fl.IP)
}

// Place maps ip, in a VMA starting at vmaStart, to a file address: the
// executable PT_LOAD whose page-aligned start plus ip's offset in the VMA
// lands inside it.
func Place(f *elf.File, vmaStart, ip uint64) (Placement, error) {
	if ip < vmaStart {
		return Placement{}, fmt.Errorf("ip %#x is below the VMA start %#x", ip, vmaStart)
	}
	off := ip - vmaStart
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		segStart := p.Vaddr &^ 0xfff
		addr := segStart + off
		if addr >= p.Vaddr && addr < p.Vaddr+p.Memsz {
			return Placement{FileAddr: addr, Bias: vmaStart - segStart, Segment: i, Naive: off}, nil
		}
	}
	return Placement{}, fmt.Errorf("offset %#x from the VMA start is in no executable segment of the file", off)
}
