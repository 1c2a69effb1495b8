// Command mutops lists the mutation points of one Go file as gremlins'
// default mutators see them (binary comparisons, arithmetic, ++/--), one
// "line column MUTATOR" a line, in the source's order: scripts/mutate-file.sh
// applies each (the token changes of scripts/mutate-recheck.py) and runs
// the tests named. String concatenations are listed too: their mutant does
// not compile (not viable), as in gremlins.
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mutops FILE.go")
		os.Exit(2)
	}
	fs := token.NewFileSet()
	f, err := parser.ParseFile(fs, os.Args[1], nil, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.BinaryExpr:
			p := fs.Position(x.OpPos)
			switch x.Op {
			case token.EQL, token.NEQ:
				fmt.Println(p.Line, p.Column, "CONDITIONALS_NEGATION")
			case token.LSS, token.LEQ, token.GTR, token.GEQ:
				fmt.Println(p.Line, p.Column, "CONDITIONALS_BOUNDARY")
				fmt.Println(p.Line, p.Column, "CONDITIONALS_NEGATION")
			case token.ADD, token.SUB, token.MUL, token.QUO, token.REM:
				fmt.Println(p.Line, p.Column, "ARITHMETIC_BASE")
			}
		case *ast.IncDecStmt:
			fmt.Println(fs.Position(x.TokPos).Line, fs.Position(x.TokPos).Column, "INCREMENT_DECREMENT")
		}
		return true
	})
}
