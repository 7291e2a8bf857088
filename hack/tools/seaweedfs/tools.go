//go:build tools

// Package tools pins SeaweedFS for hack/services.sh.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
