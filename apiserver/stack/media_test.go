package stack_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/objectstore"
)

// photo is a 640×400 JPEG carrying an EXIF segment with a secret in it.
func photo(t *testing.T, secret string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 640, 400))
	for y := 0; y < 400; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	payload := append([]byte("Exif\x00\x00"), secret...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append(append(append([]byte{}, raw[:2]...), seg...), payload...)
	return append(out, raw[2:]...)
}

// bombPNG is only the header of a PNG announcing w×h pixels.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// form is a multipart body with one part.
func form(t *testing.T, field, filename string, data []byte) (string, *bytes.Buffer) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = part.Write(data)
	_ = w.Close()
	return w.FormDataContentType(), &body
}

func get(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	res, err := http.Get(url) //nolint:gosec,noctx // the test server
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), buf.Bytes()
}

func TestProductImagesAreStrippedServedAndRemoved(t *testing.T) {
	e, s3 := backOfficeAPI(t, nil)
	s := e.store("media")
	other := e.store("media-other")
	pid := s.product("CAM-1", 1000, 0, 0)
	ctx := context.Background()

	ct, body := form(t, "file", "holiday.txt", photo(t, "GPS 48.85N 2.29E owner=jane"))
	r := e.upload("POST", "/api/v1/products/"+pid+"/images", s.slug, s.admin, ct, body).want(201, "")
	var img apiserver.ProductImage
	r.decode(&img)
	var names []string
	for _, v := range img.Variants {
		names = append(names, v.Name)
	}
	if img.Width != 640 || img.Height != 400 || strings.Join(names, ",") != "original.jpg,160.jpg,160.webp,480.jpg,480.webp" ||
		!strings.HasPrefix(img.URL, e.base+"/media/"+s.t.ID+"/"+img.ID+"/") {
		t.Fatalf("image %+v", img)
	}
	var p apiserver.Product
	e.do("GET", "/api/v1/products/"+pid, s.slug, s.admin, nil).want(200, "").decode(&p)
	if len(p.Images) != 1 || p.Images[0] != img.URL {
		t.Fatalf("product images %v, want [%s]", p.Images, img.URL)
	}
	status, ctype, data := get(t, img.URL)
	if status != 200 || ctype != "image/jpeg" || bytes.Contains(data, []byte("owner=jane")) || bytes.Contains(data, []byte("Exif")) {
		t.Fatalf("original: %d %s, %d bytes, EXIF kept: %v", status, ctype, len(data), bytes.Contains(data, []byte("owner=jane")))
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width != 640 {
		t.Fatalf("served original does not decode: %v", err)
	}
	status, ctype, data = get(t, img.Variants[2].URL)
	if status != 200 || ctype != "image/webp" || !bytes.HasPrefix(data, []byte("RIFF")) {
		t.Fatalf("webp thumbnail: %d %s", status, ctype)
	}
	prefix := objectstore.TenantPrefix(s.t.ID) + "products/" + pid + "/images/" + img.ID + "/"
	if keys, err := s3.List(ctx, prefix); err != nil || len(keys) != 5 {
		t.Fatalf("stored %v (%v), want 5 files", keys, err)
	}
	// Another tenant can neither upload to nor delete this product's images.
	ct2, body2 := form(t, "file", "a.jpg", photo(t, ""))
	e.upload("POST", "/api/v1/products/"+pid+"/images", other.slug, other.admin, ct2, body2).want(404, apiserver.ErrNotFound)
	e.do("DELETE", "/api/v1/products/"+pid+"/images/"+img.ID, other.slug, other.admin, nil).want(404, apiserver.ErrNotFound)

	e.do("DELETE", "/api/v1/products/"+pid+"/images/"+img.ID, s.slug, s.admin, nil).want(204, "")
	if keys, err := s3.List(ctx, prefix); err != nil || len(keys) != 0 {
		t.Fatalf("after delete: %v (%v)", keys, err)
	}
	if status, _, _ := get(t, img.URL); status != 404 {
		t.Fatalf("deleted image served: %d", status)
	}
	e.do("GET", "/api/v1/products/"+pid, s.slug, s.admin, nil).want(200, "").decode(&p)
	if len(p.Images) != 0 {
		t.Fatalf("product still lists %v", p.Images)
	}

	// Deleting the product: its images are no longer served at once, and the media
	// sweep removes their files.
	ct3, body3 := form(t, "file", "b.jpg", photo(t, ""))
	second := e.upload("POST", "/api/v1/products/"+pid+"/images", s.slug, s.admin, ct3, body3).want(201, "")
	e.do("DELETE", "/api/v1/products/"+pid, s.slug, s.admin, nil).want(204, "")
	if status, _, _ := get(t, second.str("url")); status != 404 {
		t.Fatalf("image of a deleted product served: %d", status)
	}
	n, err := e.st.Media().Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d images, %v", n, err)
	}
	if keys, err := s3.List(ctx, objectstore.TenantPrefix(s.t.ID)); err != nil || len(keys) != 0 {
		t.Fatalf("after the sweep: %v (%v)", keys, err)
	}
	var rows int
	e.tenantScalar(s.t.ID, &rows, "SELECT count(*) FROM product_images WHERE tenant_id = $tenant")
	if rows != 0 {
		t.Fatalf("%d image rows left", rows)
	}
}

func TestHostileImagesAreRefusedAndNothingStored(t *testing.T) {
	e, s3 := backOfficeAPI(t, func(o *stack.Options) { o.JobsMedia.MaxImageBytes = 256 << 10 })
	s := e.store("hostile")
	pid := s.product("HOST-1", 1000, 0, 0)
	big := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 100<<10)
	for _, tc := range []struct {
		name   string
		data   []byte
		field  string
		status int
		code   string
		msg    string
	}{
		{"not an image", []byte("MZ\x90\x00 this is an executable, named photo.jpg"), "file", 415, apiserver.ErrUnsupportedMediaType, "not a JPEG, PNG, GIF or WebP"},
		{"svg with script", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>fetch('/steal')</script></svg>`), "file", 415, apiserver.ErrUnsupportedMediaType, "SVG images are refused"},
		{"decompression bomb", bombPNG(60000, 60000), "file", 400, apiserver.ErrInvalid, "60000×60000"},
		{"over the limit", big, "file", 413, apiserver.ErrPayloadTooLarge, "262144"},
		{"no file part", photo(t, ""), "picture", 400, apiserver.ErrInvalid, `no part named "file"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := form(t, tc.field, "photo.jpg", tc.data)
			r := e.upload("POST", "/api/v1/products/"+pid+"/images", s.slug, s.admin, ct, body).want(tc.status, tc.code)
			if !strings.Contains(r.message(), tc.msg) {
				t.Fatalf("message %s lacks %q", r.raw, tc.msg)
			}
		})
	}
	e.upload("POST", "/api/v1/products/"+pid+"/images", s.slug, s.admin, "image/jpeg", bytes.NewReader(photo(t, ""))).want(415, apiserver.ErrUnsupportedMediaType)
	e.upload("POST", "/api/v1/products/"+pid+"/images", s.slug, s.customer, "image/jpeg", bytes.NewReader(photo(t, ""))).want(403, apiserver.ErrForbidden)
	ct, body := form(t, "file", "x.jpg", photo(t, ""))
	e.upload("POST", fmt.Sprintf("/api/v1/products/%s/images", "00000000-0000-4000-8000-000000000000"), s.slug, s.admin, ct, body).want(404, apiserver.ErrNotFound)

	keys, err := s3.List(context.Background(), objectstore.TenantPrefix(s.t.ID))
	var rows int
	e.tenantScalar(s.t.ID, &rows, "SELECT count(*) FROM product_images WHERE tenant_id = $tenant")
	if err != nil || len(keys) != 0 || rows != 0 {
		t.Fatalf("refused uploads left files %v (%v) and %d rows", keys, err, rows)
	}
}
