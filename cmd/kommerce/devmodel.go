package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/gort"
	"github.com/kommerce/kommerce/inference/oip"
	"github.com/kommerce/kommerce/inference/training"
	"github.com/kommerce/kommerce/internal/version"
)

// devModelRecipe names how the demo model is trained; a change to the recipe (or to
// the trainer) must change it, so a cached model of the old recipe is not reused.
const devModelRecipe = "als-f16-i10-seed1-users1500-v1"

// devInference is the inference server `kommerce dev` runs in process for the demo
// tenant: the same registry and Open Inference Protocol handler as `kommerce
// inference`, on a loopback port of its own, so the API reaches it over HTTP exactly
// as it reaches an inference pod in a cluster. It uses the pure-Go runtime: `make
// run` must work without the onnxruntime library.
type devInference struct {
	url string
	reg *inference.Registry
	srv *http.Server
	log *slog.Logger
}

func startDevInference(log *slog.Logger) (*devInference, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo inference server: %w", err)
	}
	reg := inference.NewRegistry(inference.Options{
		Runtimes: map[string]inference.Runtime{gort.Name: gort.New()}, DefaultRuntime: gort.Name,
		Limits: inference.Limits{MaxBatch: 64, MaxElements: 1 << 16}, Logger: log,
	})
	d := &devInference{url: "http://" + ln.Addr().String(), reg: reg, log: log,
		srv: &http.Server{Handler: (&oip.Handler{Registry: reg, Version: version.Version, Logger: log}).Routes(), ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo inference server stopped", "error", err)
		}
	}()
	return d, nil
}

// Close stops the server and unloads the models.
func (d *devInference) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(ctx)
	d.reg.Close()
}

// loadDemoModel trains a recommendation model for the demo tenant's catalog — ALS
// on a synthetic shop whose shoppers have planted tastes, one taste per category —
// and serves it as model `name`. The ONNX file is cached under dir, keyed by the
// catalog and the recipe, so a second start loads it in milliseconds.
func (d *devInference) loadDemoModel(ctx context.Context, tenants apiserver.TenantService, cat apiserver.CatalogService, slug, name, dir string) error {
	start := time.Now()
	r, err := tenants.TenantBySlug(ctx, slug)
	if err != nil {
		return fmt.Errorf("demo tenant: %w", err)
	}
	catalog, err := demoCatalog(apiserver.NewContextWithTenant(ctx, r.Tenant), cat)
	if err != nil {
		return err
	}
	if len(catalog) < 2 {
		return fmt.Errorf("the demo catalog has %d published products; a model needs at least 2", len(catalog))
	}
	h := sha256.New()
	fmt.Fprintln(h, devModelRecipe)
	for _, it := range catalog {
		fmt.Fprintf(h, "%s %s\n", it.ID, it.Cluster)
	}
	ver := "dev-" + hex.EncodeToString(h.Sum(nil))[:12]
	path := filepath.Join(dir, name+"-"+ver+".onnx")
	cached := true
	if _, err := os.Stat(path); err != nil {
		cached = false
		if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // model files are not secret
			return err
		}
		job := training.Job{Purpose: training.PurposeRecommendations, OutDir: dir, Name: name, Version: ver,
			Source:  training.Synthetic{Seed: 1, Users: 1500, Catalog: catalog},
			Recs:    training.RecsParams{Factors: 16, Iterations: 10, Seed: 1},
			HoldOut: 0.2, Producer: version.Version,
			Namespace: "default",
		}
		res, err := job.Run(ctx)
		if err != nil {
			return fmt.Errorf("train the demo model: %w", err)
		}
		path = res.ONNX
		d.log.Info("demo recommendation model trained", "model", name, "version", ver, "metrics", fmt.Sprintf("%+v", res.Metrics), "card", res.Card)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	err = d.reg.Apply(ctx, inference.Config{Models: []inference.ModelConfig{{Name: name, Version: ver, URI: path, SHA256: hex.EncodeToString(sum[:])}}})
	if err != nil {
		return fmt.Errorf("load the demo model: %w", err)
	}
	d.log.Info("demo recommendation model serving", "model", name, "version", ver, "products", len(catalog),
		"cached", cached, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// demoCatalog lists the tenant's published products with their first category as
// the taste cluster, sorted by id so the cache key does not depend on list order.
func demoCatalog(ctx context.Context, cat apiserver.CatalogService) ([]training.CatalogItem, error) {
	var out []training.CatalogItem
	f := apiserver.ProductFilter{Status: apiserver.StatusPublished, Limit: apiserver.MaxPageSize}
	for {
		page, err := cat.ListProducts(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list the demo catalog: %w", err)
		}
		for _, p := range page.Items {
			cluster := "uncategorised"
			if len(p.CategoryIDs) > 0 {
				cluster = p.CategoryIDs[0]
			}
			out = append(out, training.CatalogItem{ID: p.ID, Cluster: cluster})
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	slices.SortFunc(out, func(a, b training.CatalogItem) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
