package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// proxies are the toxiproxy proxies, run in this process, between the API and
// PostgreSQL and Redis; dbURL and redisURL are the services' URLs through them.
type proxies struct {
	byName          map[string]*toxiproxy.Proxy
	dbURL, redisURL string
}

func startProxies(dbURL, redisURL string) (*proxies, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := &proxies{byName: map[string]*toxiproxy.Proxy{}}
	for _, s := range []struct {
		name string
		raw  string
		out  *string
	}{{"postgres", dbURL, &p.dbURL}, {"redis", redisURL, &p.redisURL}} {
		u, err := url.Parse(s.raw)
		if err != nil {
			return nil, fmt.Errorf("%s URL: %w", s.name, err)
		}
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		px := toxiproxy.NewProxy(srv, s.name, addr, u.Host)
		if err := px.Start(); err != nil {
			return nil, fmt.Errorf("proxy for %s: %w", s.name, err)
		}
		p.byName[s.name] = px
		u.Host = addr
		*s.out = u.String()
	}
	return p, nil
}

// stall holds every byte the API sends to the named service for d (a latency toxic
// of d, removed after d: a held chunk is let through when the toxic goes), so the
// service looks frozen for d and then answers everything it was asked.
func (p *proxies) stall(ctx context.Context, name string, d time.Duration) {
	px := p.byName[name]
	spec := fmt.Sprintf(`{"name":"stall","type":"latency","stream":"upstream","toxicity":1,"attributes":{"latency":%d}}`, d.Milliseconds())
	if _, err := px.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		fmt.Printf("stall %s: %v\n", name, err)
		return
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	if err := px.Toxics.RemoveToxic(context.WithoutCancel(ctx), "stall"); err != nil {
		fmt.Printf("end stall %s: %v\n", name, err)
	}
}

func (p *proxies) stop() {
	for _, px := range p.byName {
		px.Stop()
	}
}
