package main

import (
	"context"

	"github.com/kommerce/kommerce/internal/config"
)

func runInference(_ context.Context, e *env) error {
	set := config.NewSet("inference", "Serve ONNX models over the Open Inference Protocol (KServe v2 REST).", e.getenv)
	var c serverConfig
	var lib string
	c.register(set, ":8081")
	set.String(&lib, "onnxruntime-lib", "KOMMERCE_ONNXRUNTIME_LIB", "", "path of libonnxruntime.so")
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	return notBuilt("kommerce inference", "the model server is not written yet")
}
