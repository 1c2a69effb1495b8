// Package cxxname shortens C++ names for lists and prose: one rule, used
// by every face (the verdict, task labels, thread names, DAP threads), so
// a name reads the same wherever it is shown.
package cxxname

import "strings"

// MaxArgs is the longest template argument list kept whole (its opening
// bracket included): "<int>", "<dm_hash_node_t::delete_dm_obj_t>".
const MaxArgs = 48

// Elide replaces each outermost template argument list longer than
// MaxArgs with "<…>", keeping short ones whole:
// "boost::intrusive::list_impl<…>::erase_and_dispose<dm_hash_node_t::delete_dm_obj_t>",
// "libgo::Rutex<unsigned int, false>::wait_until<…>". Names without
// templates come back unchanged. A "<" that opens no argument list
// (operator<, operator<<) is kept as written.
func Elide(name string) string {
	if !strings.Contains(name, "<") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '<' && !isOperator(name, i) {
			end := matching(name, i)
			if end < 0 {
				b.WriteString(name[i:]) // unbalanced: as it is
				break
			}
			if end-i <= MaxArgs {
				b.WriteString(name[i : end+1])
			} else {
				b.WriteString("<…>")
			}
			i = end
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isOperator says whether the '<' at i belongs to an operator's name
// (operator<, operator<=, operator<<, operator<=>).
func isOperator(s string, i int) bool {
	j := i
	for j > 0 && s[j-1] == '<' {
		j--
	}
	return strings.HasSuffix(s[:j], "operator")
}

// matching is the index of the '>' closing the '<' at i, -1 when none.
func matching(s string, i int) int {
	d := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '<':
			if !isOperator(s, j) {
				d++
			}
		case '>':
			if j > 0 && s[j-1] == '-' {
				continue // operator->
			}
			d--
			if d == 0 {
				return j
			}
		}
	}
	return -1
}
