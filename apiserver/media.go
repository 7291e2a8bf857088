package apiserver

import (
	"context"
	"io"
	"time"
)

// Media limits, mirrored in openapi.yaml and docs/media.md.
const (
	// DefaultMaxImageBytes bounds an uploaded image file.
	DefaultMaxImageBytes = 10 << 20
	// DefaultMaxImagePixels and DefaultMaxImageSide bound the dimensions an image's
	// header may announce; they are checked before any pixel is decoded, so a small
	// file claiming a huge canvas (a decompression bomb) costs nothing.
	DefaultMaxImagePixels = 40_000_000
	DefaultMaxImageSide   = 12_000
)

// DefaultThumbnailWidths are the widths of the thumbnails made at upload.
var DefaultThumbnailWidths = []int{160, 480, 1024}

// ImageVariant is one stored file of an image: the re-encoded original or a
// thumbnail, in the original's format or WebP.
type ImageVariant struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ContentType string `json:"content_type"`
	Bytes       int64  `json:"bytes"`
}

// ProductImage is an uploaded image of a product.
type ProductImage struct {
	ID        string         `json:"id"`
	ProductID string         `json:"product_id"`
	URL       string         `json:"url"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Variants  []ImageVariant `json:"variants"`
	CreatedAt time.Time      `json:"created_at"`
}

// MediaFile is an opened stored image file; the caller closes Body.
type MediaFile struct {
	Body        io.ReadCloser
	Size        int64
	ContentType string
}

// MediaService stores product images in the object store under the tenant's prefix
// and serves them.
type MediaService interface {
	// UploadImage checks, re-encodes and stores an image of a product, makes its
	// variants and adds its URL (under baseURL, the API's public origin) to the
	// product's images. Nothing is stored unless everything is. Errors: ErrNotFound
	// (product), ErrPayloadTooLarge, ErrUnsupportedMediaType (not an accepted image,
	// SVG), ErrInvalid (dimensions, too many images), ErrUnavailable (object store).
	UploadImage(ctx context.Context, productID string, file io.Reader, baseURL string) (*ProductImage, error)
	// ListImages errors: ErrNotFound (product).
	ListImages(ctx context.Context, productID string) ([]*ProductImage, error)
	// DeleteImage removes the image from the product at once and its files from the
	// object store (now, or by the media sweep when the store is down). Errors:
	// ErrNotFound.
	DeleteImage(ctx context.Context, productID, imageID string) error
	// OpenMedia opens a file of an image that is neither deleted nor of a deleted
	// product. It needs no tenant in ctx: media URLs name their tenant. Errors:
	// ErrNotFound, ErrUnavailable.
	OpenMedia(ctx context.Context, tenantID, imageID, file string) (*MediaFile, error)
}
