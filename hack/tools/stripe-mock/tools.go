//go:build tools

// Package tools pins stripe-mock for hack/services.sh.
package tools

import _ "github.com/stripe/stripe-mock"
