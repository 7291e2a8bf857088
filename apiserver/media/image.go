// Package media checks, re-encodes and stores product images (apiserver.MediaService)
// and removes the files of deleted images and products.
//
// Images take a pure-Go path: the standard library's JPEG, PNG and GIF codecs and
// golang.org/x/image's WebP decoder and scaler, with WebP encoding by
// github.com/gen2brain/webp (libwebp compiled to WebAssembly, run by wazero: no cgo,
// no system library). libvips through govips would be faster but needs cgo and a C
// library on every build machine and image; AVIF is not produced (no pure-Go
// encoder).
package media

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"strconv"

	gwebp "github.com/gen2brain/webp"
	"golang.org/x/image/draw"
	xwebp "golang.org/x/image/webp"

	"github.com/kommerce/kommerce/apiserver"
)

// Limits bound what Process accepts.
type Limits struct {
	MaxPixels int // default apiserver.DefaultMaxImagePixels
	MaxSide   int // default apiserver.DefaultMaxImageSide
	// Widths of the thumbnails (default apiserver.DefaultThumbnailWidths); widths
	// not smaller than the image are skipped.
	Widths []int
}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = apiserver.DefaultMaxImagePixels
	}
	if l.MaxSide <= 0 {
		l.MaxSide = apiserver.DefaultMaxImageSide
	}
	if l.Widths == nil {
		l.Widths = apiserver.DefaultThumbnailWidths
	}
	return l
}

// File is one encoded variant of an image.
type File struct {
	Name        string // original.jpg, 480.jpg, 480.webp
	ContentType string
	Width       int
	Height      int
	Data        []byte
}

// Sniff names the format of data from its content (never a file name): "jpeg",
// "png", "gif" or "webp", or a client error saying what it is instead.
func Sniff(data []byte) (string, error) {
	head := data
	if len(head) > 512 {
		head = head[:512]
	}
	switch ct := http.DetectContentType(head); ct {
	case "image/jpeg":
		return "jpeg", nil
	case "image/png":
		return "png", nil
	case "image/gif":
		return "gif", nil
	case "image/webp":
		return "webp", nil
	default:
		if looksLikeSVG(data) {
			return "", apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "SVG images are refused: they can carry scripts. Upload a JPEG, PNG, GIF or WebP image.")
		}
		return "", apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "The file is not a JPEG, PNG, GIF or WebP image (its content looks like %s).", ct)
	}
}

// looksLikeSVG finds an <svg element near the start of a text file, past any XML
// prolog, comments or doctype.
func looksLikeSVG(data []byte) bool {
	head := data
	if len(head) > 4096 {
		head = head[:4096]
	}
	return bytes.Contains(bytes.ToLower(head), []byte("<svg"))
}

func decodeConfig(format string, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch format {
	case "jpeg":
		return jpeg.DecodeConfig(r)
	case "png":
		return png.DecodeConfig(r)
	case "gif":
		return gif.DecodeConfig(r)
	default:
		return xwebp.DecodeConfig(r)
	}
}

func decode(format string, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch format {
	case "jpeg":
		return jpeg.Decode(r)
	case "png":
		return png.Decode(r)
	case "gif":
		return gif.Decode(r) // the first frame
	default:
		return xwebp.Decode(r)
	}
}

// Process checks an uploaded image and returns its variants: the original decoded and
// encoded again (JPEG stays JPEG at quality 90; PNG, GIF and WebP become PNG), so
// nothing but pixels survives — no EXIF, no comments, no colour profile, no trailing
// data — and a thumbnail per width in that format and in WebP. The dimensions in the
// header are checked against the limits before any pixel is decoded.
func Process(data []byte, lim Limits) ([]File, error) {
	lim = lim.withDefaults()
	format, err := Sniff(data)
	if err != nil {
		return nil, err
	}
	cfg, err := decodeConfig(format, data)
	if err != nil {
		return nil, apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "The file starts like a %s image but its header cannot be read.", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide || cfg.Width*cfg.Height > lim.MaxPixels {
		return nil, apiserver.FieldErrorf("file", "The image is %d×%d pixels; at most %d pixels and %d on a side are accepted.", cfg.Width, cfg.Height, lim.MaxPixels, lim.MaxSide)
	}
	img, err := decode(format, data)
	if err != nil {
		return nil, apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "The %s image is damaged and cannot be decoded.", format)
	}
	b := img.Bounds()
	if b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "The %s image's size differs from what its header says.", format)
	}
	ext := "png"
	if format == "jpeg" {
		ext = "jpg"
	}
	orig, err := encode(ext, img)
	if err != nil {
		return nil, err
	}
	files := []File{{Name: "original." + ext, ContentType: contentTypes[ext], Width: b.Dx(), Height: b.Dy(), Data: orig}}
	for _, w := range lim.Widths {
		if w <= 0 || w >= b.Dx() {
			continue
		}
		h := max(1, b.Dy()*w/b.Dx())
		thumb := scale(img, w, h)
		for _, e := range []string{ext, "webp"} {
			data, err := encode(e, thumb)
			if err != nil {
				return nil, err
			}
			files = append(files, File{Name: strconv.Itoa(w) + "." + e, ContentType: contentTypes[e], Width: w, Height: h, Data: data})
		}
	}
	return files, nil
}

var contentTypes = map[string]string{"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

func scale(src image.Image, w, h int) image.Image {
	var dst draw.Image
	if opaque(src) {
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
	} else {
		dst = image.NewNRGBA(image.Rect(0, 0, w, h))
	}
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst
}

func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return img.ColorModel() == color.YCbCrModel || img.ColorModel() == color.GrayModel
}

func encode(ext string, img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch ext {
	case "jpg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	case "png":
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	default:
		err = gwebp.Encode(&buf, img, gwebp.Options{Quality: 80, Method: 4})
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ext, err)
	}
	return buf.Bytes(), nil
}
