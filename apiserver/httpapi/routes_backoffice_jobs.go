package httpapi

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

// JobsMediaConfig holds the services behind imports, exports, jobs and product media.
// A nil service answers its routes with 503 unavailable.
type JobsMediaConfig struct {
	Jobs  apiserver.JobService
	Media apiserver.MediaService
	// MaxImportBytes and MaxImageBytes bound uploads (defaults
	// apiserver.DefaultMaxImportBytes and DefaultMaxImageBytes); the handlers apply
	// them, not MaxBodyBytes (x-kommerce-streamed-body).
	MaxImportBytes int64
	MaxImageBytes  int64
	// MediaBaseURL is the public origin of the API used in image URLs
	// (https://shop.example.com); empty: the origin each upload request came to.
	MediaBaseURL string
}

// multipartSlack is what a multipart form may add around its file: boundaries and
// part headers.
const multipartSlack = 64 << 10

// jobsMediaRoutes registers the back office's import, export, job and media routes.
func (h *handler) jobsMediaRoutes(e *gin.Engine, v1 *gin.RouterGroup) {
	v1.POST("/imports", h.startImport)
	v1.POST("/exports", h.startExport)
	v1.GET("/jobs/:id", h.getJob)
	v1.GET("/jobs/:id/download", h.downloadJobResult)
	v1.GET("/products/:id/images", h.listProductImages)
	v1.POST("/products/:id/images", h.uploadProductImage)
	v1.DELETE("/products/:id/images/:image_id", h.deleteProductImage)
	e.GET("/media/:tenant_id/:image_id/:file", h.getMedia)
}

var errJobsUnavailable = apiserver.Errorf(apiserver.ErrUnavailable, "Imports and exports are not configured on this server.")
var errMediaUnavailable = apiserver.Errorf(apiserver.ErrUnavailable, "Product media is not configured on this server.")

// upload returns the file of an upload request: the body itself when it has
// one of the accepted plain types, else the part "file" of a multipart form. The
// body is bounded by limit (plus the form's slack), refused at once when its
// Content-Length says it is larger.
func upload(c *gin.Context, limit int64, plain ...string) (io.Reader, int64, error) {
	r := c.Request
	tooLarge := apiserver.Errorf(apiserver.ErrPayloadTooLarge, "The file is larger than %d bytes.", limit)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	for _, p := range plain {
		if mt == p {
			if r.ContentLength > limit {
				return nil, 0, tooLarge
			}
			r.Body = http.MaxBytesReader(c.Writer, r.Body, limit)
			return r.Body, r.ContentLength, nil
		}
	}
	if mt != "multipart/form-data" || params["boundary"] == "" {
		msg := "Send the file as the part \"file\" of a multipart/form-data form."
		if len(plain) > 0 {
			msg = "Send the file as " + plain[0] + ", or as the part \"file\" of a multipart/form-data form."
		}
		return nil, 0, apiserver.Errorf(apiserver.ErrUnsupportedMediaType, "%s", msg)
	}
	if r.ContentLength > limit+multipartSlack {
		return nil, 0, tooLarge
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, limit+multipartSlack)
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			if _, ok := err.(*http.MaxBytesError); ok {
				return nil, 0, tooLarge
			}
			return nil, 0, apiserver.FieldErrorf("file", "The form has no part named \"file\".")
		}
		if part.FormName() == "file" {
			return part, -1, nil
		}
	}
}

func (h *handler) startImport(c *gin.Context) {
	if h.Jobs == nil {
		h.writeError(c, errJobsUnavailable)
		return
	}
	limit := h.MaxImportBytes
	if limit <= 0 {
		limit = apiserver.DefaultMaxImportBytes
	}
	file, size, err := upload(c, limit, "text/csv")
	if err != nil {
		h.writeError(c, err)
		return
	}
	job, err := h.Jobs.StartImport(c.Request.Context(), file, size)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/jobs/"+job.ID)
	c.JSON(http.StatusAccepted, job)
}

func (h *handler) startExport(c *gin.Context) {
	if h.Jobs == nil {
		h.writeError(c, errJobsUnavailable)
		return
	}
	var in apiserver.ExportRequest
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	job, err := h.Jobs.StartExport(c.Request.Context(), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/jobs/"+job.ID)
	c.JSON(http.StatusAccepted, job)
}

func (h *handler) getJob(c *gin.Context) {
	if h.Jobs == nil {
		h.writeError(c, errJobsUnavailable)
		return
	}
	job, err := h.Jobs.GetJob(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, job)
}

func (h *handler) downloadJobResult(c *gin.Context) {
	if h.Jobs == nil {
		h.writeError(c, errJobsUnavailable)
		return
	}
	body, ct, err := h.Jobs.OpenResult(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	defer body.Close() //nolint:errcheck // read only
	ext := ".csv"
	if ct == "application/x-ndjson" {
		ext = ".ndjson"
	}
	c.Header("Cache-Control", "no-store")
	c.DataFromReader(http.StatusOK, -1, ct, body, map[string]string{
		"Content-Disposition": `attachment; filename="export-` + c.Param("id") + ext + `"`})
}

// baseURL is the origin media URLs are made with.
func (h *handler) baseURL(c *gin.Context) string {
	if h.MediaBaseURL != "" {
		return h.MediaBaseURL
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

func (h *handler) listProductImages(c *gin.Context) {
	if h.Media == nil {
		h.writeError(c, errMediaUnavailable)
		return
	}
	imgs, err := h.Media.ListImages(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, imgs)
}

func (h *handler) uploadProductImage(c *gin.Context) {
	if h.Media == nil {
		h.writeError(c, errMediaUnavailable)
		return
	}
	limit := h.MaxImageBytes
	if limit <= 0 {
		limit = apiserver.DefaultMaxImageBytes
	}
	file, _, err := upload(c, limit)
	if err != nil {
		h.writeError(c, err)
		return
	}
	img, err := h.Media.UploadImage(c.Request.Context(), c.Param("id"), file, h.baseURL(c))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Location", img.URL)
	c.JSON(http.StatusCreated, img)
}

func (h *handler) deleteProductImage(c *gin.Context) {
	if h.Media == nil {
		h.writeError(c, errMediaUnavailable)
		return
	}
	if err := h.Media.DeleteImage(c.Request.Context(), c.Param("id"), c.Param("image_id")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// getMedia serves an image file. Its URL never changes content (a new upload gets a
// new id), so it is cacheable for a year; nosniff keeps browsers to the stored type.
func (h *handler) getMedia(c *gin.Context) {
	if h.Media == nil {
		h.writeError(c, errMediaUnavailable)
		return
	}
	f, err := h.Media.OpenMedia(c.Request.Context(), c.Param("tenant_id"), c.Param("image_id"), c.Param("file"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	defer f.Body.Close() //nolint:errcheck // read only
	c.DataFromReader(http.StatusOK, f.Size, f.ContentType, f.Body, map[string]string{
		"Cache-Control":          "public, max-age=31536000, immutable",
		"X-Content-Type-Options": "nosniff",
		"Content-Length":         strconv.FormatInt(f.Size, 10),
	})
}
