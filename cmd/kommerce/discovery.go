package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kommerce/kommerce/apiserver/discovery"
	apikafka "github.com/kommerce/kommerce/apiserver/kafka"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/inference/recs"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/sfsettings"
)

// discoveryConfig is the search, behaviour-event and recommendation settings of
// `kommerce api` and `kommerce dev`.
type discoveryConfig struct {
	search         searchConfig
	brokers        string
	partitions     int
	replication    int
	searchSettings string
	searchCacheTTL time.Duration
	inferenceURL   string
	recsModel      string
	recsControl    int
	recsRanking    string
}

func (c *discoveryConfig) register(set *config.Set, brokersUsage string) {
	c.search.register(set)
	set.String(&c.brokers, "kafka-brokers", "KOMMERCE_KAFKA_BROKERS", "", brokersUsage, config.Check(config.Brokers))
	set.Int(&c.partitions, "kafka-partitions", "KOMMERCE_KAFKA_PARTITIONS", 6, "partitions of each topic created for a tenant (same as kommerce ingest)", config.Check(config.Positive))
	set.Int(&c.replication, "kafka-replication", "KOMMERCE_KAFKA_REPLICATION", 1, "replication factor of each topic created for a tenant (3 in production)", config.Check(config.Positive))
	set.String(&c.searchSettings, "search-settings", "KOMMERCE_SEARCH_SETTINGS", "", "YAML or JSON file of storefronts' search settings (synonyms, boosts, autocomplete, currency; the Storefront spec.search shape), re-read within about a second of a change; the development path of several storefronts (a pod of one storefront uses --storefront-settings instead); unset means defaults")
	set.Duration(&c.searchCacheTTL, "search-cache-ttl", "KOMMERCE_SEARCH_CACHE_TTL", time.Second, "how long each API replica keeps a search or autocomplete answer for identical queries (same storefront, settings and parameters); a write becomes searchable up to this much later than the engine's own refresh (1s); 0 turns the cache off", config.Check(nonNegativeDuration))
	set.String(&c.inferenceURL, "inference-url", "KOMMERCE_INFERENCE_URL", "", "base URL of the inference service (kommerce inference); unset means recommendations by popularity only", config.Check(config.URL(true, "http", "https")))
	set.String(&c.recsModel, "recs-model", "KOMMERCE_RECS_MODEL", "recs", "name of the recommendation model on the inference service")
	set.Int(&c.recsControl, "recs-control-percent", "KOMMERCE_RECS_CONTROL_PERCENT", 0, "share of shoppers (by a stable hash) served by popularity as the experiment's control arm, 0-100", config.Check(percent))
	set.String(&c.recsRanking, "recs-popularity-file", "KOMMERCE_RECS_POPULARITY_FILE", "", "popularity ranking served ahead of the catalog's newest-first ranking (the .popularity.json of kommerce train recommendations)")
}

func percent(v string) error {
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 0 || n > 100 {
		return errors.New("want a whole number between 0 and 100")
	}
	return nil
}

// discoveryParts is what discovery runs on, opened by the caller: the search engine
// (nil: not configured) and the brokers (empty: not configured).
type discoveryParts struct {
	backend search.Backend
	brokers []string
}

// options builds the stack's discovery options and the readiness checks of what is
// configured; close releases the Kafka producers. The settings file is watched
// until ctx ends.
func (c *discoveryConfig) options(ctx context.Context, log *slog.Logger, p discoveryParts, defaults discovery.SettingsSource) (stack.DiscoveryOptions, []server.Check, func(), error) {
	o := stack.DiscoveryOptions{Search: p.backend, Settings: defaults, SearchCacheTTL: c.searchCacheTTL, InferenceURL: c.inferenceURL,
		RecsModel: c.recsModel, RecsControlPercent: c.recsControl}
	var checks []server.Check
	if p.backend != nil {
		checks = append(checks, pingCheck("search", p.backend.Ping))
	}
	if c.searchSettings != "" {
		f, err := discovery.LoadSettingsFile(c.searchSettings, log)
		if err != nil {
			return o, nil, nil, config.Usagef("invalid --search-settings / KOMMERCE_SEARCH_SETTINGS: %v", err)
		}
		go f.Watch(ctx, sfsettings.PollInterval)
		o.Settings = f
	}
	if c.recsRanking != "" {
		r, err := recs.ReadPopularity(c.recsRanking)
		if err != nil {
			return o, nil, nil, config.Usagef("invalid --recs-popularity-file / KOMMERCE_RECS_POPULARITY_FILE: %v", err)
		}
		o.RecsRanking = r
	}
	closeFn := func() {}
	if len(p.brokers) > 0 {
		k := apikafka.New(p.brokers, c.partitions, c.replication, log)
		o.Kafka = k
		checks = append(checks, pingCheck("kafka", k.Ping))
		closeFn = func() {
			if err := k.Close(); err != nil {
				log.Warn("kafka producers closed with an error", "error", err)
			}
		}
	}
	return o, checks, closeFn, nil
}
