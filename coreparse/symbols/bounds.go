package symbols

// FunctionRange is the address range of the code of a function that
// contains addr, as far as the file says (file addresses): the DWARF
// range of the concrete function holding addr (a function split into
// parts, foo and foo.cold, has one per part), else the ELF function
// symbol's [start, start+size). hi is 0 when only the start is known (a
// symbol without a size). lo is always an instruction boundary.
func (t *Table) FunctionRange(addr uint64) (lo, hi uint64, ok bool) {
	if cu := t.cuFor(addr); cu != nil {
		if cu.funcAt(addr) != nil {
			if r, ok := rangeAt(cu.funcs, addr); ok {
				return r.lo, r.hi, true
			}
			// funcAt found it among the nested functions: it built them.
			if r, ok := rangeAt(cu.nested, addr); ok {
				return r.lo, r.hi, true
			}
		}
	}
	s, ok := t.funcSymbolAt(addr)
	if !ok {
		return 0, 0, false
	}
	if s.Size > 0 {
		return s.Value, s.Value + s.Size, true
	}
	return s.Value, 0, true
}

// rangeAt finds the range holding addr among ranges sorted by start.
func rangeAt(fs []funcRange, addr uint64) (funcRange, bool) {
	lo, hi := 0, len(fs)
	for lo < hi {
		m := (lo + hi) / 2
		if fs[m].lo > addr {
			hi = m
		} else {
			lo = m + 1
		}
	}
	for j := lo - 1; j >= 0 && j >= lo-256; j-- {
		if addr >= fs[j].lo && addr < fs[j].hi {
			return fs[j], true
		}
	}
	return funcRange{}, false
}
