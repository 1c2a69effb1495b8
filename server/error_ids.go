package server

// The id of every error response the server sends (the protocol's
// ErrorMessage.id), as delve's service/dap/error_ids.go names its own: by
// thousands, the protocol (1000), what a core cannot do (2000), launch
// (3000), a request on the opened core (4000). The numbers are part of
// the protocol a client sees: never reused for another meaning.
const (
	// The protocol.
	errBadMessage  = 1000 // a request go-dap cannot decode
	errInternal    = 1001 // a handler's panic, recovered: the session goes on
	errNoCore      = 1002 // a request that needs a core before launch
	errUnsupported = 1003 // a request the server does not know
	errFilesFailed = 1004 // a file of the session faulted: the session ends

	// What a core file cannot do.
	errNoBreakpoints = 2001 // set*Breakpoints
	errCannotRun     = 2002 // continue, step, restart, goto…
	errReadOnly      = 2003 // setVariable, setExpression, writeMemory

	// Launch (and attach).
	errBadLaunchArgs = 3000 // arguments that do not decode
	errNoCoreFile    = 3001 // no coreFile
	errLaunchedTwice = 3002 // a core is already open in this session
	errCannotOpen    = 3003 // the core or a profile cannot be opened
	errAccessDenied  = 3010 // a path the client named is outside what it may read
	errAuth          = 3011 // launch without the server's token

	// Requests on the opened core.
	errNoStack      = 4000 // stackTrace of a thread that has none
	errNoFrame      = 4001 // scopes of a frame id never given
	errNoVariables  = 4002 // variables of a reference never given
	errEvaluate     = 4003 // an expression that does not evaluate
	errBadDisasmRef = 4004 // disassemble at a memoryReference that is not an address
	errBadMemoryRef = 4005 // readMemory at a memoryReference that is not an address
	errNoTarget     = 4005 // a dsecore/ request naming no frame or thread (readMemory's id, as it always was)
	errNoSource     = 4006 // source of a sourceReference never given
	errOverBudget   = 4010 // the session's evaluate budget is spent
)
