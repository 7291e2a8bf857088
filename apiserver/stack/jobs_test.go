package stack_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/jobs"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/objectstore"
	"github.com/kommerce/kommerce/internal/objectstore/objectstoretest"
	"github.com/kommerce/kommerce/internal/testenv"
)

// backOfficeAPI starts the API with the test's own bucket on the S3 server; the job
// runner is not started (runJobs starts it), so tests can play with runners.
func backOfficeAPI(t *testing.T, mod func(*stack.Options)) (*apiEnv, objectstore.Store) {
	t.Helper()
	var s3 objectstore.Store = objectstoretest.NewS3(t)
	e := startAPI(t, func(o *stack.Options) {
		o.JobsMedia.Store = s3
		o.JobsMedia.TempDir = t.TempDir()
		o.JobsMedia.Runner.BatchSize = 50
		o.JobsMedia.Runner.Poll = 50 * time.Millisecond
		if mod != nil {
			mod(o)
		}
	})
	return e, s3
}

// runJobs runs the stack's job runner until the test ends.
func (e *apiEnv) runJobs() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { e.st.Runner().Run(ctx) })
	e.t.Cleanup(func() { cancel(); wg.Wait() })
}

// upload sends body with the content type.
func (e *apiEnv) upload(method, path, tenant, token, contentType string, body io.Reader) *resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Kommerce-Tenant", tenant)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &resp{t: e.t, status: res.StatusCode, header: res.Header, raw: raw, req: method + " " + path}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

// waitJob polls the job until it finished and returns it.
func (e *apiEnv) waitJob(slug, token, id string) apiserver.Job {
	e.t.Helper()
	var job apiserver.Job
	testenv.Eventually(e.t, 60*time.Second, "job "+id+" finished", func() (bool, string) {
		r := e.do("GET", "/api/v1/jobs/"+id, slug, token, nil).want(200, "")
		job = apiserver.Job{}
		r.decode(&job)
		return job.State == apiserver.JobSucceeded || job.State == apiserver.JobFailed, string(r.raw)
	})
	return job
}

// catalogCSV is a products file of n rows, SKU-00001..., with the planted rows
// replaced.
func catalogCSV(n int, planted map[int]string) string {
	var b strings.Builder
	b.WriteString("sku,name,description,status,currency,price\n")
	for i := 1; i <= n; i++ {
		if line, ok := planted[i]; ok {
			b.WriteString(line + "\n")
			continue
		}
		fmt.Fprintf(&b, "SKU-%05d,\"Mug, size %d\",A mug,published,EUR,%d.%02d\n", i, i, i, i%100)
	}
	return b.String()
}

// planted are bad rows of catalogCSV (keyed by data row; the file row is one more)
// and the errors they must produce.
var planted = map[int]string{
	4:  "SKU-00004,Mug,,published,EUR,12,50",
	5:  "SKU-00005,Mug,,published,EUR,12;50",
	9:  "SKU-00002,Mug again,,published,EUR,1.00",
	19: "SKU-00019,,,published,EUR,3.00",
	29: "SKU-00029,Mug,,published,eur,3.00",
	49: "SKU-00049,Mug,,sold,EUR,3.00",
	59: "-bad-sku,Mug,,draft,EUR,-3",
}

var plantedErrors = []apiserver.RowError{
	{Row: 5, Column: "", Message: "The row has 7 fields; the header has 6."},
	{Row: 6, Column: "price", Message: `"12;50" is not a price: write a non-negative number with at most two decimals and a dot, such as 19.99.`},
	{Row: 10, Column: "sku", Message: "SKU SKU-00002 already appears on row 3; a SKU may appear once per file."},
	{Row: 20, Column: "name", Message: "A product needs a name."},
	{Row: 30, Column: "currency", Message: "Currencies are ISO 4217 codes such as EUR."},
	{Row: 50, Column: "status", Message: `Status must be draft or published, not "sold".`},
	{Row: 60, Column: "price", Message: `"-3" is not a price: write a non-negative number with at most two decimals and a dot, such as 19.99.`},
	{Row: 60, Column: "sku", Message: "SKUs are 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit."},
}

func (e *apiEnv) tenantScalar(tenantID string, dst any, sql string) {
	e.t.Helper()
	e.scalar(dst, strings.ReplaceAll(sql, "$tenant", "'"+tenantID+"'"))
}

func TestImportReportsBadRowsExactlyAndIsIdempotent(t *testing.T) {
	e, _ := backOfficeAPI(t, nil)
	e.runJobs()
	s := e.store("imp")
	file := catalogCSV(300, planted)
	r := e.upload("POST", "/api/v1/imports", s.slug, s.admin, "text/csv", strings.NewReader(file)).want(202, "")
	if r.header.Get("Location") != "/api/v1/jobs/"+r.str("id") || r.str("state") != apiserver.JobQueued {
		t.Fatalf("202 without the job: %s %v", r.raw, r.header)
	}
	job := e.waitJob(s.slug, s.admin, r.str("id"))
	if job.State != apiserver.JobSucceeded || *job.RowsTotal != 300 || job.RowsDone != 300 || job.RowsFailed != 7 || job.RowsCreated != 293 || job.RowsUpdated != 0 {
		t.Fatalf("job %+v", job)
	}
	got, _ := json.Marshal(job.Errors)
	want, _ := json.Marshal(plantedErrors)
	if string(got) != string(want) {
		t.Fatalf("errors\n got %s\nwant %s", got, want)
	}
	var products, versions, events int
	e.tenantScalar(s.t.ID, &products, "SELECT count(*) FROM products WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &versions, "SELECT sum(version) FROM products WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &events, "SELECT count(*) FROM outbox WHERE tenant_id = $tenant AND event_type LIKE 'product.%'")
	if products != 293 || events != 293 {
		t.Fatalf("%d products, %d product events after import; want 293", products, events)
	}
	var p apiserver.ProductPage
	e.do("GET", "/api/v1/products?q=size%20123&limit=5", s.slug, s.admin, nil).want(200, "").decode(&p)
	if len(p.Items) != 1 || p.Items[0].Name != "Mug, size 123" || p.Items[0].Variants[0].Prices[0].Amount != 12323 || p.Items[0].Status != apiserver.StatusPublished {
		t.Fatalf("imported product: %+v", p.Items)
	}

	// The same file again: the same report, nothing changes.
	again := e.waitJob(s.slug, s.admin, e.upload("POST", "/api/v1/imports", s.slug, s.admin, "text/csv", strings.NewReader(file)).want(202, "").str("id"))
	if again.RowsCreated != 0 || again.RowsUpdated != 0 || again.RowsFailed != 7 || again.RowsDone != 300 {
		t.Fatalf("re-run: %+v", again)
	}
	var products2, versions2, events2 int
	e.tenantScalar(s.t.ID, &products2, "SELECT count(*) FROM products WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &versions2, "SELECT sum(version) FROM products WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &events2, "SELECT count(*) FROM outbox WHERE tenant_id = $tenant AND event_type LIKE 'product.%'")
	if products2 != products || versions2 != versions || events2 != events {
		t.Fatalf("re-run changed the catalog: products %d→%d, versions %d→%d, events %d→%d", products, products2, versions, versions2, events, events2)
	}

	// One price changed, sent as a multipart form: one product updated, and a read
	// of it (cached before) shows the new price at once.
	var pid string
	e.tenantScalar(s.t.ID, &pid, "SELECT product_id::text FROM variants WHERE tenant_id = $tenant AND sku = 'SKU-00007'")
	var before apiserver.Product
	e.do("GET", "/api/v1/products/"+pid, s.slug, s.admin, nil).want(200, "").decode(&before)
	changed := strings.Replace(file, "SKU-00007,\"Mug, size 7\",A mug,published,EUR,7.07", "SKU-00007,\"Mug, size 7\",A mug,published,EUR,8.00", 1)
	var body bytes.Buffer
	fmt.Fprintf(&body, "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"catalog.xlsx\"\r\nContent-Type: application/octet-stream\r\n\r\n%s\r\n--XyZ--\r\n", changed)
	third := e.waitJob(s.slug, s.admin, e.upload("POST", "/api/v1/imports", s.slug, s.admin, "multipart/form-data; boundary=XyZ", &body).want(202, "").str("id"))
	if third.RowsCreated != 0 || third.RowsUpdated != 1 {
		t.Fatalf("one change: %+v", third)
	}
	var after apiserver.Product
	e.do("GET", "/api/v1/products/"+pid, s.slug, s.admin, nil).want(200, "").decode(&after)
	if before.Variants[0].Prices[0].Amount != 707 || after.Variants[0].Prices[0].Amount != 800 || after.Version != before.Version+1 {
		t.Fatalf("price %d → %d, version %d → %d; want 707 → 800, +1", before.Variants[0].Prices[0].Amount, after.Variants[0].Prices[0].Amount, before.Version, after.Version)
	}
}

func TestImportRefusesWrongColumnsAndLargeFilesBeforeStarting(t *testing.T) {
	e, s3 := backOfficeAPI(t, func(o *stack.Options) { o.JobsMedia.MaxImportBytes = 4096 })
	s := e.store("refuse")
	for _, tc := range []struct {
		name, ct, body string
		status         int
		code, msg      string
	}{
		{"unknown column", "text/csv", "sku,name,currency,price,colour\nA,B,EUR,1,red\n", 400, apiserver.ErrInvalid, `Column 5 is "colour"`},
		{"missing price", "text/csv", "sku,name,currency\nA,B,EUR\n", 400, apiserver.ErrInvalid, "lacks the required column(s) price"},
		{"empty", "text/csv", "", 400, apiserver.ErrInvalid, "empty"},
		{"json", "application/json", `{"sku":"A"}`, 415, apiserver.ErrUnsupportedMediaType, "text/csv"},
		{"over the limit", "text/csv", catalogCSV(200, nil), 413, apiserver.ErrPayloadTooLarge, "4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.upload("POST", "/api/v1/imports", s.slug, s.admin, tc.ct, strings.NewReader(tc.body)).want(tc.status, tc.code)
			if !strings.Contains(r.message(), tc.msg) {
				t.Fatalf("message %s lacks %q", r.raw, tc.msg)
			}
		})
	}
	// A body of unknown length over the limit: refused after reading the limit.
	pr, pw := io.Pipe()
	go func() {
		big := []byte(catalogCSV(200, nil))
		_, _ = pw.Write(big)
		_ = pw.Close()
	}()
	e.upload("POST", "/api/v1/imports", s.slug, s.admin, "text/csv", pr).want(413, apiserver.ErrPayloadTooLarge)
	// A customer may not import.
	e.upload("POST", "/api/v1/imports", s.slug, s.customer, "text/csv", strings.NewReader("sku,name,currency,price\n")).want(403, apiserver.ErrForbidden)

	var jobsN int
	e.tenantScalar(s.t.ID, &jobsN, "SELECT count(*) FROM jobs WHERE tenant_id = $tenant")
	keys, err := s3.List(context.Background(), objectstore.TenantPrefix(s.t.ID))
	if jobsN != 0 || err != nil || len(keys) != 0 {
		t.Fatalf("refused imports left %d jobs and files %v (%v)", jobsN, keys, err)
	}
}

func (r *resp) message() string {
	e, _ := r.json["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// TestImportResumesAfterACrash stops a runner right after its third batch committed,
// as a crash would, and lets a second runner (a restarted API) claim the job when the
// lease runs out: the import ends with every row applied exactly once.
func TestImportResumesAfterACrash(t *testing.T) {
	e, s3 := backOfficeAPI(t, nil)
	s := e.store("crash")
	id := e.upload("POST", "/api/v1/imports", s.slug, s.admin, "text/csv", strings.NewReader(catalogCSV(1000, nil))).want(202, "").str("id")

	ctx, crash := context.WithCancel(context.Background())
	first := jobs.NewRunner(e.st.DB, s3)
	first.Owner, first.BatchSize, first.Lease = "first", 100, 2*time.Second
	first.AfterBatch = func(_ string, checkpoint int64) {
		if checkpoint == 300 {
			crash()
		}
	}
	done := make(chan struct{})
	go func() { first.Run(ctx); close(done) }()
	<-done

	var checkpoint, products int
	var state string
	e.tenantScalar(s.t.ID, &checkpoint, "SELECT checkpoint FROM jobs WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &state, "SELECT state FROM jobs WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &products, "SELECT count(*) FROM products WHERE tenant_id = $tenant")
	if checkpoint != 300 || state != apiserver.JobRunning || products != 300 {
		t.Fatalf("after the crash: checkpoint %d, state %s, %d products; want 300, running, 300", checkpoint, state, products)
	}

	second := jobs.NewRunner(e.st.DB, s3)
	second.Owner, second.BatchSize, second.Lease, second.Poll = "second", 100, 2*time.Second, 50*time.Millisecond
	ctx2, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { second.Run(ctx2) })
	t.Cleanup(func() { stop(); wg.Wait() })
	job := e.waitJob(s.slug, s.admin, id)
	var events, attempts int
	e.tenantScalar(s.t.ID, &products, "SELECT count(*) FROM products WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &events, "SELECT count(*) FROM outbox WHERE tenant_id = $tenant AND event_type = 'product.created'")
	e.tenantScalar(s.t.ID, &attempts, "SELECT attempts FROM jobs WHERE tenant_id = $tenant")
	if job.State != apiserver.JobSucceeded || job.RowsDone != 1000 || job.RowsCreated != 1000 || products != 1000 || events != 1000 || attempts != 2 {
		t.Fatalf("after resuming: %+v, %d products, %d created events, %d attempts", job, products, events, attempts)
	}
}

func TestExportsStreamProductsAndOrders(t *testing.T) {
	e, _ := backOfficeAPI(t, nil)
	e.runJobs()
	s := e.store("exp")
	e.waitJob(s.slug, s.admin, e.upload("POST", "/api/v1/imports", s.slug, s.admin, "text/csv", strings.NewReader(catalogCSV(120, nil))).want(202, "").str("id"))
	s.setStock("SKU-00001", "main", 10)
	order := s.buyAsGuest(map[string]int64{"SKU-00001": 2})

	r := e.do("POST", "/api/v1/exports", s.slug, s.admin, map[string]any{"entity": "products"}).want(202, "")
	job := e.waitJob(s.slug, s.admin, r.str("id"))
	if job.State != apiserver.JobSucceeded || job.RowsDone != 120 || job.DownloadURL != "/api/v1/jobs/"+job.ID+"/download" {
		t.Fatalf("export: %+v", job)
	}
	dl := e.do("GET", job.DownloadURL, s.slug, s.admin, nil).want(200, "")
	recs, err := csv.NewReader(bytes.NewReader(dl.raw)).ReadAll()
	if err != nil || len(recs) != 121 || strings.Join(recs[0], ",") != "sku,name,description,status,currency,price" ||
		strings.Join(recs[7], "|") != "SKU-00007|Mug, size 7|A mug|published|EUR|7.07" {
		t.Fatalf("products export (%v): %d rows, %q", err, len(recs), recs[:min(len(recs), 8)])
	}
	// What an export writes, an import reads back as no change.
	back := e.waitJob(s.slug, s.admin, e.upload("POST", "/api/v1/imports", s.slug, s.admin, "text/csv", bytes.NewReader(dl.raw)).want(202, "").str("id"))
	if back.RowsFailed != 0 || back.RowsCreated != 0 || back.RowsUpdated != 0 || back.RowsDone != 120 {
		t.Fatalf("re-importing the export: %+v", back)
	}

	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	empty := e.waitJob(s.slug, s.admin, e.do("POST", "/api/v1/exports", s.slug, s.admin, map[string]any{"entity": "products", "from": future}).want(202, "").str("id"))
	if empty.RowsDone != 0 || *empty.RowsTotal != 0 {
		t.Fatalf("export from the future: %+v", empty)
	}

	oj := e.waitJob(s.slug, s.admin, e.do("POST", "/api/v1/exports", s.slug, s.admin, map[string]any{"entity": "orders", "format": "ndjson"}).want(202, "").str("id"))
	od := e.do("GET", oj.DownloadURL, s.slug, s.admin, nil).want(200, "")
	if od.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("content type %q", od.header.Get("Content-Type"))
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(od.raw), &line); err != nil || line["id"] != order || line["subtotal"] != float64(202) {
		t.Fatalf("orders export %s (%v)", od.raw, err)
	}
	e.do("POST", "/api/v1/exports", s.slug, s.admin, map[string]any{"entity": "customers"}).want(400, apiserver.ErrInvalid)
	e.do("POST", "/api/v1/exports", s.slug, s.admin, map[string]any{"entity": "orders", "from": future, "to": future}).want(400, apiserver.ErrInvalid)
}

func TestJobsAreTenantIsolated(t *testing.T) {
	e, _ := backOfficeAPI(t, nil)
	e.runJobs()
	a, b := e.store("jobs-a"), e.store("jobs-b")
	job := e.waitJob(a.slug, a.admin, e.do("POST", "/api/v1/exports", a.slug, a.admin, map[string]any{"entity": "products"}).want(202, "").str("id"))
	e.do("GET", "/api/v1/jobs/"+job.ID, b.slug, b.admin, nil).want(404, apiserver.ErrNotFound)
	e.do("GET", "/api/v1/jobs/"+job.ID+"/download", b.slug, b.admin, nil).want(404, apiserver.ErrNotFound)
	e.do("GET", "/api/v1/jobs/"+job.ID, a.slug, a.customer, nil).want(403, apiserver.ErrForbidden)
	e.do("GET", "/api/v1/jobs/"+job.ID+"/download", a.slug, a.admin, nil).want(200, "")
	// A's token on B's tenant is refused before anything is looked up.
	e.do("GET", "/api/v1/jobs/"+job.ID, b.slug, a.admin, nil).want(401, "")
}

// TestObjectStoreDown points the API at an S3 endpoint where nothing listens: uploads
// are refused with 503 and store nothing, an export job records why it stopped and
// fails visibly after its last attempt, and the rest of the API still answers.
func TestObjectStoreDown(t *testing.T) {
	down, err := objectstore.NewS3(objectstore.S3Config{Endpoint: "http://127.0.0.1:1", Bucket: "nowhere", AccessKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	e := startAPI(t, func(o *stack.Options) {
		o.JobsMedia.Store = down
		o.JobsMedia.TempDir = t.TempDir()
		o.JobsMedia.Runner.Poll = 50 * time.Millisecond
		o.JobsMedia.Runner.MaxAttempts = 1
	})
	e.runJobs()
	s := e.store("down")
	pid := s.product("DOWN-1", 100, 0, 0)
	e.upload("POST", "/api/v1/imports", s.slug, s.admin, "text/csv", strings.NewReader(catalogCSV(3, nil))).want(503, apiserver.ErrUnavailable)
	ct, body := form(t, "file", "p.jpg", photo(t, ""))
	e.upload("POST", "/api/v1/products/"+pid+"/images", s.slug, s.admin, ct, body).want(503, apiserver.ErrUnavailable)
	job := e.waitJob(s.slug, s.admin, e.do("POST", "/api/v1/exports", s.slug, s.admin, map[string]any{"entity": "products"}).want(202, "").str("id"))
	if job.State != apiserver.JobFailed || !strings.Contains(job.Error, "temporary error") {
		t.Fatalf("export with the store down: %+v", job)
	}
	var jobsN, images int
	e.tenantScalar(s.t.ID, &jobsN, "SELECT count(*) FROM jobs WHERE tenant_id = $tenant")
	e.tenantScalar(s.t.ID, &images, "SELECT count(*) FROM product_images WHERE tenant_id = $tenant")
	if jobsN != 1 || images != 0 {
		t.Fatalf("%d jobs (want only the export), %d images", jobsN, images)
	}
	e.do("GET", "/api/v1/products/"+pid, s.slug, s.admin, nil).want(200, "")
}
