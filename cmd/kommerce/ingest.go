package main

import (
	"context"

	"github.com/kommerce/kommerce/internal/config"
)

func runIngest(_ context.Context, e *env) error {
	set := config.NewSet("ingest", "Relay the outbox to Kafka and run the search indexer, feature and experiment consumers.", e.getenv)
	var c serverConfig
	var dbURL, brokers, esURL string
	c.register(set, ":8082")
	databaseURLFlag(set, &dbURL)
	set.String(&brokers, "kafka-brokers", "KOMMERCE_KAFKA_BROKERS", "127.0.0.1:59092", "comma-separated Kafka brokers", config.Check(config.Brokers))
	set.String(&esURL, "elasticsearch-url", "KOMMERCE_ELASTICSEARCH_URL", "", "Elasticsearch URL; unset means Bleve under --data-dir", config.Check(config.URL(true, "http", "https")))
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	return notBuilt("kommerce ingest", "the outbox relay and consumers are not written yet")
}
