package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/objectstore"
)

// Service implements apiserver.MediaService.
type Service struct {
	DB     *postgres.DB
	Store  objectstore.Store
	Limits Limits
	// MaxBytes bounds an uploaded file (default apiserver.DefaultMaxImageBytes).
	MaxBytes int64
	Logger   *slog.Logger
	// Refresh, when set, is told of each product whose images changed, so the
	// catalog cache shows the change at once.
	Refresh func(ctx context.Context, productIDs ...string)
}

func (s *Service) refresh(ctx context.Context, productID string) {
	if s.Refresh != nil {
		s.Refresh(ctx, productID)
	}
}

var _ apiserver.MediaService = (*Service)(nil)

// variant is a stored file as product_images.variants lists it.
type variant struct {
	Name        string `json:"name"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ContentType string `json:"content_type"`
	Bytes       int64  `json:"bytes"`
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Service) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return apiserver.DefaultMaxImageBytes
}

var errNoProduct = apiserver.Errorf(apiserver.ErrNotFound, "No product with that id.")

// mediaURL is where the API serves a file of an image (OpenMedia).
func mediaURL(base, tenantID, imageID, name string) string {
	return strings.TrimRight(base, "/") + "/media/" + tenantID + "/" + imageID + "/" + name
}

// UploadImage implements apiserver.MediaService. The files are stored first and the
// rows written after, in one transaction; if that fails the files are removed again,
// so a refused or failed upload leaves nothing behind.
func (s *Service) UploadImage(ctx context.Context, productID string, file io.Reader, baseURL string) (*apiserver.ProductImage, error) {
	if !apiserver.ValidID(productID) {
		return nil, errNoProduct
	}
	limit := s.maxBytes()
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The image is larger than %d bytes.", limit)
		}
		return nil, apiserver.Errorf(apiserver.ErrInvalid, "The file could not be read to its end.")
	}
	if int64(len(data)) > limit {
		return nil, apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The image is larger than %d bytes.", limit)
	}
	if len(data) == 0 {
		return nil, apiserver.FieldErrorf("file", "The file is empty.")
	}
	if err := s.checkRoom(ctx, productID); err != nil {
		return nil, err
	}
	files, err := Process(data, s.Limits)
	if err != nil {
		return nil, err
	}
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	id := newID()
	prefix := objectstore.TenantPrefix(t.ID) + "products/" + productID + "/images/" + id + "/"
	vs := make([]variant, len(files))
	var total int64
	for i, f := range files {
		if err := s.Store.Put(ctx, prefix+f.Name, bytes.NewReader(f.Data), int64(len(f.Data)), f.ContentType); err != nil {
			s.cleanup(prefix)
			return nil, unavailable(err)
		}
		vs[i] = variant{Name: f.Name, Width: f.Width, Height: f.Height, ContentType: f.ContentType, Bytes: int64(len(f.Data))}
		total += int64(len(f.Data))
	}
	url := mediaURL(baseURL, t.ID, id, files[0].Name)
	vj, _ := json.Marshal(vs)
	var row dbq.ProductImage
	err = s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		p, err := q.LockProduct(ctx, dbq.LockProductParams{TenantID: tid, ID: productID})
		if err != nil {
			return err
		}
		if len(p.Images) >= apiserver.MaxImages {
			return apiserver.FieldErrorf("file", "The product already has %d images, the most allowed; delete one first.", apiserver.MaxImages)
		}
		row, err = q.InsertProductImage(ctx, dbq.InsertProductImageParams{TenantID: tid, ID: id, ProductID: productID, Prefix: prefix,
			Url: url, Width: int32(files[0].Width), Height: int32(files[0].Height), Variants: vj, Bytes: total}) //nolint:gosec // bounded by Limits.MaxSide
		if err != nil {
			return err
		}
		if _, err := q.AddProductImageURL(ctx, dbq.AddProductImageURLParams{TenantID: tid, ID: productID, Url: url}); err != nil {
			return err
		}
		return productUpdated(ctx, q, tid, productID)
	})
	if err != nil {
		s.cleanup(prefix)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errNoProduct
		}
		return nil, err
	}
	s.refresh(ctx, productID)
	return imageOf(row, baseOf(url)), nil
}

// checkRoom refuses early, before any decoding, an upload to a product that does
// not exist or has no room for another image.
func (s *Service) checkRoom(ctx context.Context, productID string) error {
	return s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		p, err := q.GetProduct(ctx, dbq.GetProductParams{TenantID: tid, ID: productID})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoProduct
		}
		if err != nil {
			return err
		}
		if len(p.Images) >= apiserver.MaxImages {
			return apiserver.FieldErrorf("file", "The product already has %d images, the most allowed; delete one first.", apiserver.MaxImages)
		}
		return nil
	})
}

// baseOf is the API origin a stored media URL was made with.
func baseOf(url string) string {
	if i := strings.Index(url, "/media/"); i >= 0 {
		return url[:i]
	}
	return ""
}

// cleanup removes the files of an upload that did not make it, with a context of its
// own: the request's may be the reason it failed.
func (s *Service) cleanup(prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Store.DeletePrefix(ctx, prefix); err != nil {
		s.log().Warn("media cleanup failed", "prefix", prefix, "error", err.Error())
	}
}

func unavailable(err error) error {
	return errors.Join(apiserver.Errorf(apiserver.ErrUnavailable, "The image store is not available; try again shortly."), err)
}

func imageOf(r dbq.ProductImage, base string) *apiserver.ProductImage {
	img := &apiserver.ProductImage{ID: r.ID, ProductID: r.ProductID, URL: r.Url, Width: int(r.Width), Height: int(r.Height),
		Variants: []apiserver.ImageVariant{}, CreatedAt: r.CreatedAt}
	var vs []variant
	_ = json.Unmarshal(r.Variants, &vs)
	for _, v := range vs {
		img.Variants = append(img.Variants, apiserver.ImageVariant{Name: v.Name, URL: mediaURL(base, r.TenantID, r.ID, v.Name),
			Width: v.Width, Height: v.Height, ContentType: v.ContentType, Bytes: v.Bytes})
	}
	return img
}

// productUpdated appends the product.updated event with the product as it is now.
func productUpdated(ctx context.Context, q *dbq.Queries, tid, productID string) error {
	snaps, err := q.ImportSnapshots(ctx, dbq.ImportSnapshotsParams{TenantID: tid, Ids: []string{productID}})
	if err != nil {
		return err
	}
	if len(snaps) != 1 {
		return errNoProduct
	}
	var ev events.Product
	if err := json.Unmarshal(snaps[0].Snapshot, &ev); err != nil {
		return err
	}
	b, err := events.Encode(events.ProductUpdated, ev)
	if err != nil {
		return err
	}
	return q.InsertOutbox(ctx, dbq.InsertOutboxParams{TenantID: tid, AggregateType: "product", AggregateID: productID,
		EventType: string(events.ProductUpdated), Payload: b})
}

// ListImages implements apiserver.MediaService.
func (s *Service) ListImages(ctx context.Context, productID string) ([]*apiserver.ProductImage, error) {
	if !apiserver.ValidID(productID) {
		return nil, errNoProduct
	}
	out := []*apiserver.ProductImage{}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := q.GetProduct(ctx, dbq.GetProductParams{TenantID: tid, ID: productID}); err != nil {
			return err
		}
		rows, err := q.ListProductImages(ctx, dbq.ListProductImagesParams{TenantID: tid, ProductID: productID})
		for _, r := range rows {
			out = append(out, imageOf(r, baseOf(r.Url)))
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoProduct
	}
	return out, err
}

// DeleteImage implements apiserver.MediaService.
func (s *Service) DeleteImage(ctx context.Context, productID, imageID string) error {
	notFound := apiserver.Errorf(apiserver.ErrNotFound, "No image with that id on this product.")
	if !apiserver.ValidID(productID) || !apiserver.ValidID(imageID) {
		return notFound
	}
	var row dbq.ProductImage
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := q.LockProduct(ctx, dbq.LockProductParams{TenantID: tid, ID: productID}); err != nil {
			return err
		}
		var err error
		row, err = q.MarkProductImageDeleted(ctx, dbq.MarkProductImageDeletedParams{TenantID: tid, ProductID: productID, ID: imageID})
		if err != nil {
			return err
		}
		if err := q.RemoveProductImageURL(ctx, dbq.RemoveProductImageURLParams{TenantID: tid, ID: productID, Url: row.Url}); err != nil {
			return err
		}
		return productUpdated(ctx, q, tid, productID)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound
	}
	if err != nil {
		return err
	}
	s.refresh(ctx, productID)
	// The image is gone for clients; its files go now, or with the next sweep.
	if err := s.removeFiles(ctx, row.TenantID, row.ID, row.Prefix); err != nil {
		s.log().Warn("image files left for the media sweep", "image", row.ID, "error", err.Error())
	}
	return nil
}

func (s *Service) removeFiles(ctx context.Context, tenantID, imageID, prefix string) error {
	if err := s.Store.DeletePrefix(ctx, prefix); err != nil {
		return err
	}
	return s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		return q.DeleteProductImageRow(ctx, dbq.DeleteProductImageRowParams{TenantID: tenantID, ID: imageID})
	})
}

// Sweep removes the files of deleted images and of the images of deleted products,
// of every tenant, then their rows; it returns how many images it cleared. A store
// that is down leaves the rows for the next sweep.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	var rows []dbq.ImagesToSweepRow
	err := s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		var err error
		rows, err = q.ImagesToSweep(ctx, 200)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("media sweep: %w", err)
	}
	n := 0
	for _, r := range rows {
		if err := s.removeFiles(ctx, r.TenantID, r.ID, r.Prefix); err != nil {
			return n, fmt.Errorf("media sweep: %w", err)
		}
		n++
	}
	return n, nil
}

// RunSweep sweeps every interval until ctx ends, logging failures.
func (s *Service) RunSweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log().Warn("media sweep failed; retrying next time", "error", err.Error())
		} else if n > 0 {
			s.log().Info("media sweep removed image files", "images", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OpenMedia implements apiserver.MediaService.
func (s *Service) OpenMedia(ctx context.Context, tenantID, imageID, file string) (*apiserver.MediaFile, error) {
	notFound := apiserver.Errorf(apiserver.ErrNotFound, "No such image.")
	if !apiserver.ValidID(tenantID) || !apiserver.ValidID(imageID) {
		return nil, notFound
	}
	var row dbq.ServableImageRow
	err := s.DB.AsPlatform(ctx, func(q *dbq.Queries) error {
		var err error
		row, err = q.ServableImage(ctx, dbq.ServableImageParams{TenantID: tenantID, ID: imageID})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	var vs []variant
	_ = json.Unmarshal(row.Variants, &vs)
	for _, v := range vs {
		if v.Name != file {
			continue
		}
		obj, err := s.Store.Get(ctx, row.Prefix+v.Name)
		if errors.Is(err, objectstore.ErrNotFound) {
			return nil, notFound
		}
		if err != nil {
			return nil, unavailable(err)
		}
		return &apiserver.MediaFile{Body: obj.Body, Size: obj.Size, ContentType: v.ContentType}, nil
	}
	return nil, notFound
}
