// Command jobs benchmarks imports, exports and thumbnails against baselines measured in
// the same run, on the real PostgreSQL and S3 server (SeaweedFS):
//
//   - import: -n products in a CSV posted to POST /api/v1/imports and applied by the job
//     runner (validation, batches with their checkpoints, outbox events), timed from
//     the POST to the job's success — against parsing and validating the same CSV
//     alone, and against one COPY of the same rows into a bare table;
//   - export: the same products exported as CSV through POST /api/v1/exports (rows read
//     page by page, written, stored in S3), timed to the job's success — against one
//     COPY (SELECT …) TO STDOUT of the same rows;
//   - thumbnails: -images photos (1600×1200 JPEG) through the upload pipeline's
//     Process (sniff, header check, decode, re-encode, one thumbnail per width in JPEG
//     and WebP) — against decoding and encoding the photo once.
//
// Settings come from KOMMERCE_DATABASE_URL (a migrated, otherwise unused database) and
// KOMMERCE_S3_URL / _ACCESS_KEY / _SECRET_KEY; hack/bench/jobs.sh sets them up.
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/jobs"
	"github.com/kommerce/kommerce/apiserver/media"
	"github.com/kommerce/kommerce/apiserver/password"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/hack/bench/benchsummary"
	"github.com/kommerce/kommerce/internal/objectstore"
)

var (
	n       = flag.Int("n", 100_000, "rows imported and exported")
	batch   = flag.Int("batch", jobs.DefaultBatchSize, "rows per import batch")
	nImages = flag.Int("images", 20, "photos through the thumbnail pipeline")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func rate(rows int, d time.Duration) string {
	return fmt.Sprintf("%9.0f/s (%6.2fs)", float64(rows)/d.Seconds(), d.Seconds())
}

func run() error {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("KOMMERCE_DATABASE_URL"))
	if err != nil {
		return err
	}
	defer pool.Close()
	bucket := fmt.Sprintf("bench-jobs-%d", os.Getpid())
	s3, err := objectstore.NewS3(objectstore.S3Config{Endpoint: os.Getenv("KOMMERCE_S3_URL"), Bucket: bucket,
		AccessKey: os.Getenv("KOMMERCE_S3_ACCESS_KEY"), SecretKey: os.Getenv("KOMMERCE_S3_SECRET_KEY")})
	if err != nil {
		return err
	}
	if err := s3.EnsureBucket(ctx); err != nil {
		return err
	}
	defer func() { _ = s3.RemoveBucket(context.Background()) }()

	unlimited := apiserver.RateLimit{Rate: 1_000_000, Burst: 1_000_000}
	o := stack.Options{Pool: pool, UserLimit: unlimited, TenantLimit: unlimited, Logger: slog.New(slog.DiscardHandler),
		Registry: prometheus.NewRegistry(), Password: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	o.JobsMedia.Store = s3
	o.JobsMedia.Runner.BatchSize = *batch
	o.JobsMedia.Runner.Poll = 20 * time.Millisecond
	st, err := stack.New(o)
	if err != nil {
		return err
	}
	rctx, stopRunner := context.WithCancel(ctx)
	defer stopRunner()
	go st.Runner().Run(rctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: st.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	slug := fmt.Sprintf("benchjobs%d", os.Getpid())
	tenant, err := st.Tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: slug})
	if err != nil {
		return err
	}
	if _, err := st.Keys.Rotate(ctx, tenant.ID, time.Hour); err != nil {
		return err
	}
	tctx := apiserver.NewContextWithTenant(ctx, tenant)
	const pw = "violet harbour lantern"
	if _, err := st.Users.CreateUser(tctx, apiserver.UserCreate{Email: "bench@" + slug + ".test", Password: pw, Role: apiserver.RoleAdmin}); err != nil {
		return err
	}
	c := &client{base: base, slug: slug}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.call("POST", "/api/v1/auth/login", "application/json", strings.NewReader(`{"email":"bench@`+slug+`.test","password":"`+pw+`"}`), 200, &login); err != nil {
		return err
	}
	c.token = login.AccessToken

	file := catalog(*n)
	fmt.Printf("jobs bench: %d rows (%.1f MB CSV), batch %d, %d cores, load %s\n", *n, float64(len(file))/1e6, *batch, runtimeCores(), loadavg())

	// Baseline: parse and validate only.
	t0 := time.Now()
	if err := parseOnly(file); err != nil {
		return err
	}
	parse := time.Since(t0)
	// Baseline: one COPY of the same rows into a bare table.
	copyIn, err := copyBaseline(ctx, pool, file)
	if err != nil {
		return err
	}
	// The import through the API and the runner.
	t0 = time.Now()
	var job apiserver.Job
	if err := c.call("POST", "/api/v1/imports", "text/csv", bytes.NewReader(file), 202, &job); err != nil {
		return err
	}
	accepted := time.Since(t0)
	if job, err = c.wait(job.ID); err != nil {
		return err
	}
	imp := time.Since(t0)
	if job.RowsCreated != int64(*n) {
		return fmt.Errorf("import created %d products of %d: %+v", job.RowsCreated, *n, job.Errors)
	}
	t0 = time.Now()
	if err := c.call("POST", "/api/v1/imports", "text/csv", bytes.NewReader(file), 202, &job); err != nil {
		return err
	}
	if job, err = c.wait(job.ID); err != nil {
		return err
	}
	reimp := time.Since(t0)

	fmt.Printf("import   parse+validate only  %s\n", rate(*n, parse))
	fmt.Printf("import   one COPY, bare table %s\n", rate(*n, copyIn))
	fmt.Printf("import   POST + job           %s   (202 after %.2fs: spool, header check, row count, store in S3)\n", rate(*n, imp), accepted.Seconds())
	fmt.Printf("import   same file again      %s   (every row unchanged: %d created, %d updated)\n", rate(*n, reimp), job.RowsCreated, job.RowsUpdated)
	ratio := func(what string, rows int, d, base time.Duration, baseName string) {
		benchsummary.Print(os.Stdout, benchsummary.Result{
			Target:   fmt.Sprintf("%s of %d products (rows/s)", what, *n),
			Measured: fmt.Sprintf("%.0f rows/s = %.3fx %s (%.0f rows/s)", float64(rows)/d.Seconds(), base.Seconds()/d.Seconds(), baseName, float64(rows)/base.Seconds()),
			Met:      true,
		})
	}
	ratio("import (POST to job done)", *n, imp, copyIn, "one COPY into a bare table")

	// Export baseline: COPY of the same rows out.
	copyOut, err := copyOutBaseline(ctx, pool, tenant.ID)
	if err != nil {
		return err
	}
	t0 = time.Now()
	if err := c.call("POST", "/api/v1/exports", "application/json", strings.NewReader(`{"entity":"products"}`), 202, &job); err != nil {
		return err
	}
	if job, err = c.wait(job.ID); err != nil {
		return err
	}
	exp := time.Since(t0)
	t0 = time.Now()
	size, err := c.download(job.DownloadURL)
	if err != nil {
		return err
	}
	dl := time.Since(t0)
	fmt.Printf("export   one COPY TO STDOUT   %s\n", rate(*n, copyOut))
	fmt.Printf("export   POST + job (CSV)     %s   (%d rows; download of %.1f MB %.2fs)\n", rate(int(job.RowsDone), exp), job.RowsDone, float64(size)/1e6, dl.Seconds())
	ratio("export, CSV (POST to job done)", int(job.RowsDone), exp, copyOut, "one COPY TO STDOUT")

	return thumbnails()
}

type client struct{ base, slug, token string }

func (c *client) call(method, path, ct string, body io.Reader, want int, out any) error {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Kommerce-Tenant", c.slug)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// wait polls a job every 20 ms until it finished.
func (c *client) wait(id string) (apiserver.Job, error) {
	for {
		var job apiserver.Job
		if err := c.call("GET", "/api/v1/jobs/"+id, "", nil, 200, &job); err != nil {
			return job, err
		}
		switch job.State {
		case apiserver.JobSucceeded:
			return job, nil
		case apiserver.JobFailed:
			return job, errors.New("job failed: " + job.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *client) download(path string) (int64, error) {
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("X-Kommerce-Tenant", c.slug)
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return io.Copy(io.Discard, res.Body)
}

func catalog(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("sku,name,description,status,currency,price\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "BENCH-%07d,\"Bench product %d, blue\",A product for the benchmark,published,EUR,%d.%02d\n", i, i, i%500, i%100)
	}
	return b.Bytes()
}

func parseOnly(file []byte) error {
	cr := csv.NewReader(bytes.NewReader(file))
	rec, err := cr.Read()
	if err != nil {
		return err
	}
	h, err := jobs.ParseHeader(rec)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for no := int64(2); ; no++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		seen[h.SKU(rec)] = true
		if _, errs := h.ParseRow(no, rec); errs != nil {
			return fmt.Errorf("row %d: %v", no, errs)
		}
	}
}

func copyBaseline(ctx context.Context, pool *pgxpool.Pool, file []byte) (time.Duration, error) {
	rows, err := csv.NewReader(bytes.NewReader(file)).ReadAll()
	if err != nil {
		return 0, err
	}
	rows = rows[1:]
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE bench_copy (sku text PRIMARY KEY, name text, description text, status text, currency text, amount bigint)"); err != nil {
		return 0, err
	}
	t0 := time.Now()
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"bench_copy"}, []string{"sku", "name", "description", "status", "currency", "amount"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(rows) {
				return nil, nil
			}
			r := rows[i]
			i++
			amount, _ := jobs.ParsePrice(r[5])
			return []any{r[0], r[1], r[2], r[3], r[4], amount}, nil
		}))
	return time.Since(t0), err
}

func copyOutBaseline(ctx context.Context, pool *pgxpool.Pool, tenantID string) (time.Duration, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	t0 := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", tenantID); err != nil {
		return 0, err
	}
	_, err = tx.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (SELECT v.sku, p.name, p.description, p.status, pr.currency, pr.amount
		FROM variants v JOIN products p ON p.tenant_id = v.tenant_id AND p.id = v.product_id
		LEFT JOIN prices pr ON pr.tenant_id = v.tenant_id AND pr.sku = v.sku
		WHERE p.deleted_at IS NULL ORDER BY v.sku) TO STDOUT WITH (FORMAT csv)`)
	return time.Since(t0), err
}

func thumbnails() error {
	img := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	for y := 0; y < 1200; y++ {
		for x := 0; x < 1600; x++ {
			img.Set(x, y, color.RGBA{uint8(x ^ y), uint8(x * y >> 8), uint8(y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return err
	}
	photo := buf.Bytes()
	// Warm up: the WebP encoder compiles its WebAssembly module on first use.
	if _, err := media.Process(photo, media.Limits{}); err != nil {
		return err
	}
	t0 := time.Now()
	for i := 0; i < *nImages; i++ {
		dec, err := jpeg.Decode(bytes.NewReader(photo))
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := jpeg.Encode(&out, dec, &jpeg.Options{Quality: 90}); err != nil {
			return err
		}
	}
	base := time.Since(t0)
	thumbs := 0
	t0 = time.Now()
	for i := 0; i < *nImages; i++ {
		files, err := media.Process(photo, media.Limits{})
		if err != nil {
			return err
		}
		thumbs += len(files) - 1
	}
	full := time.Since(t0)
	fmt.Printf("images   decode+encode only   %s   (1600x1200 JPEG, %d KB)\n", rate(*nImages, base), len(photo)/1024)
	fmt.Printf("images   full pipeline        %s   (%d thumbnails: %s)\n", rate(*nImages, full), thumbs, rate(thumbs, full))
	benchsummary.Print(os.Stdout, benchsummary.Result{
		Target:   "product photos through the thumbnail pipeline (images/s)",
		Measured: fmt.Sprintf("%.1f images/s = %.2fx one decode + encode (%.1f/s); %.1f thumbnails/s", float64(*nImages)/full.Seconds(), base.Seconds()/full.Seconds(), float64(*nImages)/base.Seconds(), float64(thumbs)/full.Seconds()),
		Met:      true,
	})
	return nil
}

func runtimeCores() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
