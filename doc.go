// Package crowdgate is the root of the Crowdgate module: a fair virtual
// waiting room and admission gateway. The binary is cmd/crowdgate; see
// README.md.
package crowdgate
