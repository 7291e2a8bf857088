// Package manifestcheck holds only a test: it applies the ModelVersion manifests
// `kommerce train` writes to a real API server with the kommerce CRDs installed, so a
// drift between the writer and the CRD schema fails the build.
package manifestcheck
