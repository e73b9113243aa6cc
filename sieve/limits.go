package sieve

// Limits bound what a script may cost to compile and to run. For every
// field, zero means the documented default and a negative value means
// unlimited. The defaults follow Pigeonhole's where it has one.
type Limits struct {
	// MaxScriptSize is the size of one script's source in bytes.
	// Default 1 MiB.
	MaxScriptSize int
	// MaxNesting is how deeply blocks and tests may nest (an if inside an
	// if, a not inside an anyof). Default 32.
	MaxNesting int
	// MaxStringList is the number of strings in one string list.
	// Default 1024.
	MaxStringList int
	// MaxErrors is the number of compile errors collected before giving
	// up. Default 10.
	MaxErrors int

	// MaxActions is the number of actions one evaluation may produce
	// (keep, fileinto, redirect, vacation, ...; duplicates that are merged
	// count once). Default 32.
	MaxActions int
	// MaxRedirects is the number of redirect actions one evaluation may
	// produce. Default 4.
	MaxRedirects int
	// MaxSteps bounds the work of one evaluation: each command, each test
	// and each comparison of a value against a key is a step.
	// Default 1,000,000.
	MaxSteps int
	// MaxVariableSize is the size in bytes of a variable's value; longer
	// values are truncated at a UTF-8 boundary (RFC 5229 §6). It also
	// bounds each match variable. Default 4096.
	MaxVariableSize int
	// MaxVariables is the number of distinct variables in one script
	// (RFC 5229 §6). Default 255.
	MaxVariables int
	// MaxRegexLength is the length in bytes of a :regex pattern after
	// variable expansion. Go's regexp package (RE2) matches in time linear
	// in the input, so length is the only knob. Default 1024.
	MaxRegexLength int
	// MaxIncludeDepth is how deeply include commands may nest.
	// Default 10.
	MaxIncludeDepth int
	// MaxIncludes is the number of distinct scripts one script may
	// include, directly or not. Default 255.
	MaxIncludes int
	// MaxHeaderSize is the size in bytes of a header field added with
	// addheader (RFC 5293 §4). Default 2048.
	MaxHeaderSize int
}

const unlimited = int(^uint(0) >> 1)

func pick(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return unlimited
	}
	return v
}

// Resolved returns the limits with defaults applied and negative values
// replaced by the largest int.
func (l *Limits) Resolved() Limits {
	var in Limits
	if l != nil {
		in = *l
	}
	return Limits{
		MaxScriptSize:   pick(in.MaxScriptSize, 1<<20),
		MaxNesting:      pick(in.MaxNesting, 32),
		MaxStringList:   pick(in.MaxStringList, 1024),
		MaxErrors:       pick(in.MaxErrors, 10),
		MaxActions:      pick(in.MaxActions, 32),
		MaxRedirects:    pick(in.MaxRedirects, 4),
		MaxSteps:        pick(in.MaxSteps, 1_000_000),
		MaxVariableSize: pick(in.MaxVariableSize, 4096),
		MaxVariables:    pick(in.MaxVariables, 255),
		MaxRegexLength:  pick(in.MaxRegexLength, 1024),
		MaxIncludeDepth: pick(in.MaxIncludeDepth, 10),
		MaxIncludes:     pick(in.MaxIncludes, 255),
		MaxHeaderSize:   pick(in.MaxHeaderSize, 2048),
	}
}
