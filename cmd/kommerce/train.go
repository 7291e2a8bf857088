package main

import (
	"context"

	"github.com/kommerce/kommerce/internal/config"
)

func runTrain(_ context.Context, e *env) error {
	set := config.NewSet("train", "Learn a model from platform data, export ONNX, a model card and a ModelVersion manifest.", e.getenv)
	var lc logConfig
	var dbURL string
	lc.register(set)
	databaseURLFlag(set, &dbURL)
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	return notBuilt("kommerce train", "training jobs are not written yet")
}
