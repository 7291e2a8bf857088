//go:build tools

// Package tools pins Jaeger v2 (an OpenTelemetry collector build that receives OTLP
// and answers the Jaeger query API) for hack/services.sh.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
