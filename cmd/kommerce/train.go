package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kommerce/kommerce/inference/training"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/version"
)

func runTrain(ctx context.Context, e *env) error {
	set := config.NewSet("train recommendations|fraud", `Learn a model from platform data, evaluate it on a time-based hold-out against its
baseline, and write to --out: the ONNX file, a model card (.card.md) and a ModelVersion
manifest (.modelversion.yaml) ready for kubectl apply; recommendations also write the
popularity ranking (.popularity.json) the API falls back to.

  recommendations  implicit-feedback ALS on behaviour and purchase events; HR@10 and NDCG@10 vs popularity
  fraud            logistic regression on order features, labels from disputes and fraud refunds;
                   AUC and precision at the review budget vs an amount rule

--source events reads the tenant's Kafka topics <topic-prefix>.behaviour and
<topic-prefix>.orders (see docs/models.md for the fields read); --source synthetic
generates a seeded shop with planted taste clusters and fraud rings.`, e.getenv)
	var (
		lc                              logConfig
		source, brokers, prefix, tenant string
		out, name, ver, ns, base        string
		seed, factors, iterations       int
		holdOut, budget                 string
		since                           time.Duration
	)
	lc.register(set)
	set.String(&source, "source", "KOMMERCE_TRAIN_SOURCE", "synthetic", "where the data comes from", config.Enum("synthetic", "events"))
	set.String(&brokers, "kafka-brokers", "KOMMERCE_KAFKA_BROKERS", "", "Kafka brokers, comma-separated (--source events)")
	set.String(&prefix, "topic-prefix", "KOMMERCE_TRAIN_TOPIC_PREFIX", "", "the tenant's Kafka topic prefix, e.g. kommerce.acme (--source events)")
	set.String(&tenant, "tenant-id", "KOMMERCE_TRAIN_TENANT_ID", "", "keep only events of this tenant id (--source events)")
	set.Duration(&since, "window", "KOMMERCE_TRAIN_WINDOW", 0, "use only events this recent, e.g. 2160h (0 = all retained)")
	set.Int(&seed, "seed", "KOMMERCE_TRAIN_SEED", 1, "seed of the synthetic data and of the factor initialisation", config.Check(config.Positive))
	set.String(&out, "out", "KOMMERCE_TRAIN_OUT", "models", "folder the files are written to")
	set.String(&name, "name", "KOMMERCE_TRAIN_NAME", "", "model name (default recs-als or fraud-logreg)")
	set.String(&ver, "version", "KOMMERCE_TRAIN_VERSION", "", "model version (default the UTC time, yyyymmddhhmmss)")
	set.String(&ns, "namespace", "KOMMERCE_TRAIN_NAMESPACE", "default", "namespace of the ModelVersion manifest")
	set.String(&base, "artifact-base", "KOMMERCE_TRAIN_ARTIFACT_BASE", "", "URI prefix where the ONNX file will be published (default: a file:// URI of the written file)",
		config.Check(config.URL(true, "https", "s3", "gs", "oci", "file")))
	set.Int(&factors, "factors", "KOMMERCE_TRAIN_FACTORS", 32, "ALS latent factors", config.Check(config.Positive))
	set.Int(&iterations, "iterations", "KOMMERCE_TRAIN_ITERATIONS", 12, "ALS sweeps", config.Check(config.Positive))
	set.String(&holdOut, "hold-out", "KOMMERCE_TRAIN_HOLD_OUT", "0.2", "share of the data window kept for evaluation", config.Check(fraction))
	set.String(&budget, "review-budget", "KOMMERCE_TRAIN_REVIEW_BUDGET", "0.02", "share of orders a fraud team can review", config.Check(fraction))
	rest, err := set.Parse(e.args, e.stdout)
	if err != nil {
		return err
	}
	if len(rest) != 1 || (rest[0] != training.PurposeRecommendations && rest[0] != training.PurposeFraud) {
		return config.Usagef("train needs exactly one of recommendations, fraud (got %v)", rest)
	}
	log := lc.logger(e.stderr)
	seed64 := uint64(seed) //nolint:gosec // --seed is checked positive
	var src training.Source = training.Synthetic{Seed: seed64}
	if source == "events" {
		if brokers == "" || prefix == "" {
			return config.Usagef("--source events needs --kafka-brokers / KOMMERCE_KAFKA_BROKERS and --topic-prefix / KOMMERCE_TRAIN_TOPIC_PREFIX")
		}
		es := training.EventSource{Brokers: training.ParseBrokers(brokers), TopicPrefix: prefix, TenantID: tenant}
		if since > 0 {
			es.Since = time.Now().Add(-since)
		}
		src = es
	}
	h, _ := parseFraction(holdOut)
	b, _ := parseFraction(budget)
	job := training.Job{Purpose: rest[0], Source: src, OutDir: out, Name: name, Version: ver, Namespace: ns, ArtifactBase: base,
		HoldOut: h, ReviewBudget: b, Producer: version.Version,
		Recs: training.RecsParams{Factors: factors, Iterations: iterations, Seed: seed64}}
	start := time.Now()
	res, err := job.Run(ctx)
	if err != nil {
		return fmt.Errorf("train %s: %w", rest[0], err)
	}
	log.Info("trained", "purpose", rest[0], "name", res.Name, "version", res.Version, "took", time.Since(start).Round(time.Millisecond).String())
	fmt.Fprintf(e.stdout, "model     %s version %s\nonnx      %s\nsha256    %s\ncard      %s\nmanifest  %s\n", res.Name, res.Version, res.ONNX, res.SHA256, res.Card, res.Manifest)
	if res.Popularity != "" {
		fmt.Fprintf(e.stdout, "fallback  %s\n", res.Popularity)
	}
	for _, k := range []string{"model", "popularity", "amount_rule"} {
		if m, ok := res.Metrics[k]; ok {
			fmt.Fprintf(e.stdout, "%-10s%+v\n", k, m)
		}
	}
	return nil
}

func fraction(v string) error {
	_, err := parseFraction(v)
	return err
}

func parseFraction(v string) (float64, error) {
	var f float64
	if _, err := fmt.Sscanf(v, "%g", &f); err != nil || f <= 0 || f >= 1 {
		return 0, fmt.Errorf("want a number between 0 and 1 (exclusive)")
	}
	return f, nil
}
