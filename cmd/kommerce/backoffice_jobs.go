package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/objectstore"
)

// jobsMediaConfig is the settings of imports, exports and product media, shared by
// `kommerce api` and `kommerce dev`: where files go (a folder, or an S3-compatible
// server when --s3-endpoint is set) and the upload limits.
type jobsMediaConfig struct {
	mediaDir       string
	s3Endpoint     string
	s3Bucket       string
	s3Region       string
	s3AccessKey    string
	s3SecretKey    string
	s3Prefix       string
	maxImportBytes int
	maxImageBytes  int
	mediaBaseURL   string
	thumbWidths    string
}

func (c *jobsMediaConfig) register(set *config.Set, dirUsage string) {
	set.String(&c.mediaDir, "media-dir", "KOMMERCE_MEDIA_DIR", "", "folder keeping import files, export files and product images when no --s3-endpoint is set; "+dirUsage)
	set.String(&c.s3Endpoint, "s3-endpoint", "KOMMERCE_S3_ENDPOINT", "", "S3-compatible server for import files, export files and product images (http://127.0.0.1:58333 is hack/services.sh's SeaweedFS); wins over --media-dir",
		config.Check(config.URL(true, "http", "https")))
	set.String(&c.s3Bucket, "s3-bucket", "KOMMERCE_S3_BUCKET", "kommerce", "bucket of --s3-endpoint, created at start if missing")
	set.String(&c.s3Region, "s3-region", "KOMMERCE_S3_REGION", "us-east-1", "region the S3 requests are signed for")
	set.String(&c.s3AccessKey, "s3-access-key", "KOMMERCE_S3_ACCESS_KEY", "", "access key of --s3-endpoint", config.Secret())
	set.String(&c.s3SecretKey, "s3-secret-key", "KOMMERCE_S3_SECRET_KEY", "", "secret key of --s3-endpoint", config.Secret())
	set.String(&c.s3Prefix, "s3-prefix", "KOMMERCE_S3_PREFIX", "", "put before every object key, so deployments can share a bucket")
	set.Int(&c.maxImportBytes, "max-import-bytes", "KOMMERCE_MAX_IMPORT_BYTES", apiserver.DefaultMaxImportBytes, "largest products CSV accepted by POST /api/v1/imports (413 above)", config.Check(positive))
	set.Int(&c.maxImageBytes, "max-image-bytes", "KOMMERCE_MAX_IMAGE_BYTES", apiserver.DefaultMaxImageBytes, "largest image accepted by POST /api/v1/products/{id}/images (413 above)", config.Check(positive))
	set.String(&c.mediaBaseURL, "media-base-url", "KOMMERCE_MEDIA_BASE_URL", "", "public origin put in image URLs (https://shop.example.com); unset uses the origin each upload was sent to",
		config.Check(config.URL(true, "http", "https")))
	set.String(&c.thumbWidths, "thumbnail-widths", "KOMMERCE_THUMBNAIL_WIDTHS", "160,480,1024", "comma-separated widths of the thumbnails made at upload, each also as WebP",
		config.Check(func(s string) error { _, err := parseWidths(s); return err }))
}

func parseWidths(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 16 || n > 4096 {
			return nil, fmt.Errorf("want widths from 16 to 4096, not %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// options opens the object store: S3 when an endpoint is set, else the folder
// (defaultDir when --media-dir is unset). It returns a line saying where files go.
func (c *jobsMediaConfig) options(ctx context.Context, defaultDir string) (stack.JobsMediaOptions, string, error) {
	widths, _ := parseWidths(c.thumbWidths)
	o := stack.JobsMediaOptions{MaxImportBytes: int64(c.maxImportBytes), MaxImageBytes: int64(c.maxImageBytes), MediaBaseURL: c.mediaBaseURL}
	o.Images.Widths = widths
	if c.s3Endpoint != "" {
		s, err := objectstore.NewS3(objectstore.S3Config{Endpoint: c.s3Endpoint, Region: c.s3Region, Bucket: c.s3Bucket,
			AccessKey: c.s3AccessKey, SecretKey: c.s3SecretKey, Prefix: c.s3Prefix})
		if err != nil {
			return o, "", err
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := s.EnsureBucket(cctx); err != nil {
			return o, "", fmt.Errorf("object store (start it with hack/services.sh up seaweedfs): %w", err)
		}
		o.Store = s
		return o, fmt.Sprintf("S3 bucket %s at %s", c.s3Bucket, c.s3Endpoint), nil
	}
	dir := c.mediaDir
	if dir == "" {
		dir = defaultDir
	}
	if dir == "" {
		return o, "", nil
	}
	o.Store = &objectstore.FS{Dir: dir}
	return o, "folder " + dir, nil
}

// logObjectStore says where files go, or that the routes are off.
func logObjectStore(log *slog.Logger, where string) {
	if where == "" {
		log.Info("imports, exports and product media are off: set --media-dir or --s3-endpoint")
		return
	}
	log.Info("imports, exports and product media", "store", where)
}
