package media

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	gwebp "github.com/gen2brain/webp"

	"github.com/kommerce/kommerce/apiserver"
)

// gradient draws a w×h gradient.
func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	return img
}

func jpegWithEXIF(t testing.TB, secret string) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, gradient(640, 400), nil); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	payload := append([]byte("Exif\x00\x00"), []byte(secret)...)
	app1 := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(payload)+2))
	out := append([]byte{}, raw[:2]...)
	out = append(out, app1...)
	out = append(out, payload...)
	return append(out, raw[2:]...)
}

// pngHeader is a PNG whose IHDR announces w×h with one tiny IDAT: a decompression
// bomb's header without its body.
func pngHeader(w, h uint32) []byte {
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
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestProcessRefusesHostileFiles(t *testing.T) {
	good := encodePNG(t, gradient(64, 64))
	for _, tc := range []struct {
		name string
		data []byte
		code string
		msg  string
	}{
		{"text", []byte("hello, this is not an image"), apiserver.ErrUnsupportedMediaType, "not a JPEG"},
		{"html", []byte("<html><script>alert(1)</script></html>"), apiserver.ErrUnsupportedMediaType, "not a JPEG"},
		{"svg with script", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), apiserver.ErrUnsupportedMediaType, "SVG"},
		{"svg named png", []byte(`<svg onload="alert(1)"/>`), apiserver.ErrUnsupportedMediaType, "SVG"},
		{"bomb 100000x100000", pngHeader(100000, 100000), apiserver.ErrInvalid, "100000×100000"},
		{"bomb 13000x10", pngHeader(13000, 10), apiserver.ErrInvalid, "on a side"},
		{"truncated png", good[:len(good)/2], apiserver.ErrUnsupportedMediaType, "damaged"},
		{"png magic only", []byte("\x89PNG\r\n\x1a\nxxxx"), apiserver.ErrUnsupportedMediaType, "header"},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), apiserver.ErrUnsupportedMediaType, "zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Process(tc.data, Limits{})
			if err == nil {
				t.Fatalf("accepted, %d files", len(files))
			}
			if apiserver.ErrorCode(err) != tc.code || !strings.Contains(apiserver.ErrorMessage(err), tc.msg) {
				t.Fatalf("error %v, want code %s mentioning %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestProcessStripsMetadataAndMakesVariants(t *testing.T) {
	var webpIn bytes.Buffer
	if err := gwebp.Encode(&webpIn, gradient(300, 200), gwebp.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		names []string
	}{
		{"jpeg with exif", jpegWithEXIF(t, "GPS 48.8584N 2.2945E secret-camera"), []string{"original.jpg", "160.jpg", "160.webp", "480.jpg", "480.webp"}},
		{"png", encodePNG(t, gradient(200, 100)), []string{"original.png", "160.png", "160.webp"}},
		{"webp", webpIn.Bytes(), []string{"original.png", "160.png", "160.webp"}},
		{"small png", encodePNG(t, gradient(100, 100)), []string{"original.png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Process(tc.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range files {
				names = append(names, f.Name)
				if bytes.Contains(f.Data, []byte("secret-camera")) || bytes.Contains(f.Data, []byte("Exif")) {
					t.Errorf("%s still holds the EXIF data", f.Name)
				}
				format, err := Sniff(f.Data)
				if err != nil {
					t.Fatalf("%s: %v", f.Name, err)
				}
				cfg, err := decodeConfig(format, f.Data)
				if err != nil || cfg.Width != f.Width || cfg.Height != f.Height {
					t.Errorf("%s: decodes as %dx%d (%v), says %dx%d", f.Name, cfg.Width, cfg.Height, err, f.Width, f.Height)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Fatalf("files %v, want %v", names, tc.names)
			}
		})
	}
}
