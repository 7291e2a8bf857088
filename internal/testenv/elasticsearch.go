package testenv

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Elasticsearch is one test's index name on the test cluster. The index is not
// created (tests usually exercise the code that creates it); every index whose name
// starts with Index is deleted in cleanup.
type Elasticsearch struct {
	URL   string
	Index string
}

var esReach reachability

// ElasticsearchURL returns the test cluster's URL, failing or skipping t when it does
// not answer.
func ElasticsearchURL(t testing.TB) string {
	t.Helper()
	url := env("KOMMERCE_TEST_ELASTICSEARCH_URL", DefaultElasticsearchURL)
	if err := esReach.check(func() error { return httpOK(url + "/_cluster/health") }); err != nil {
		Unavailable(t, "elasticsearch", url, err)
	}
	return url
}

// NewElasticsearchIndex reserves an index name (and every name it prefixes) for t.
func NewElasticsearchIndex(t testing.TB) *Elasticsearch {
	t.Helper()
	url := ElasticsearchURL(t)
	index := Name(t, "test", "-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, url+"/"+index+"*?expand_wildcards=all", nil)
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Logf("delete index %s: %v", index, err)
		} else {
			resp.Body.Close()
		}
	})
	return &Elasticsearch{URL: url, Index: index}
}

var stripeReach reachability

// StripeURL returns the stripe-mock URL, failing or skipping t when it does not answer.
func StripeURL(t testing.TB) string {
	t.Helper()
	url := env("KOMMERCE_TEST_STRIPE_URL", DefaultStripeURL)
	if err := stripeReach.check(func() error {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/customers?limit=1", nil)
		req.SetBasicAuth("sk_test_123", "")
		return doOK(req)
	}); err != nil {
		Unavailable(t, "stripe-mock", url, err)
	}
	return url
}

func httpOK(url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	return doOK(req)
}

func doOK(req *http.Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", req.URL.Path, resp.Status)
	}
	return nil
}
