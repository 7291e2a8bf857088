// Package apiserver is the commerce domain behind `kommerce api`: its types, the
// service interfaces the HTTP layer calls, and the one Error type every layer returns.
//
// It follows Ben Johnson's standard package layout: this package depends on nothing
// but the standard library and small helpers, and the subpackages implement it —
// postgres (storage, one transaction per method, row-level security per tenant),
// redis and memory (cache and rate limit stores), cache (read-through caching of the
// catalog), token (EdDSA access tokens) and httpapi (the only package importing gin).
// Later features (inventory, carts, orders, payments, search) add their types and
// interfaces here and their implementations beside the existing ones.
package apiserver

import (
	_ "embed"
)

// OpenAPISpec is the OpenAPI 3 document of the API, the contract every request is
// validated against and the document served at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPISpec []byte
