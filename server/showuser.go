package server

// showUser says whether a request's error is one a client should put in
// front of the user (VS Code: a notification). An expression's error is
// shown where the expression was typed (the watch, the hover, the debug
// console): as a notification it would also pop up for a watch expression
// of an earlier session evaluated on the next session's first stop ("no
// symbol "this" in the current context" when that frame has no `this`).
func showUser(command string) bool {
	switch command {
	case "evaluate", "completions", "setExpression":
		return false
	}
	return true
}
