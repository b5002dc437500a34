package guard

import "github.com/crowdgate/crowdgate/internal/jwks"

// The key set is read by internal/jwks, shared with the gateway, which reads sites' key
// sets for enqueue tokens.
type (
	keySet = jwks.Set
	key    = jwks.Key
)

const maxJWKSBytes = jwks.MaxBytes

var (
	parseJWKS   = jwks.Parse
	fetchKeySet = jwks.Fetch
)
