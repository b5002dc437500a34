// Package crowdgate is the root of the Crowdgate module: a fair virtual
// waiting room and admission gateway. The binary is cmd/crowdgate; see
// README.md.
//
// The package holds only what every other package shares and none owns:
// Error, the one error type, which carries a Kind (what sort of failure)
// and a Message (what the caller may be told). Domain packages return it,
// usually around one of their sentinels so errors.Is keeps working; the
// gateway maps each Kind to an HTTP status and contract code in one table.
// It imports nothing but the standard library.
package crowdgate
