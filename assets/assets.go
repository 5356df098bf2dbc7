// Package assets holds the web UI's embedded front end: the html/template layout and pages (each
// page file defines its own htmx fragments) and the static files, served under fingerprinted
// URLs so that browsers may cache them for a year.
//
// The third-party files in static/vendor are written by vendor.sh, which records their checksums
// in static/vendor/VERSIONS; the tests check the embedded files against it.
package assets

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed templates static
var files embed.FS

// staticFile is one file under static/, read into memory at start.
type staticFile struct {
	body        []byte
	fingerprint string // the first 12 hex digits of the body's sha256
	contentType string

	gzipOnce sync.Once
	gzipped  []byte // nil when compressing does not pay
}

// staticFiles maps a path relative to static/ (e.g. "vendor/htmx.min.js") to its file. It is
// built once, at package initialisation, and never changes afterwards.
var staticFiles = mustLoadStatic()

func mustLoadStatic() map[string]*staticFile {
	m, err := loadStatic(files)
	if err != nil {
		panic(err) // the embedded tree is part of the binary; failing here is a build mistake
	}
	return m
}

func loadStatic(fsys fs.FS) (map[string]*staticFile, error) {
	m := map[string]*staticFile{}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		m[strings.TrimPrefix(p, "static/")] = &staticFile{
			body:        body,
			fingerprint: hex.EncodeToString(sum[:])[:12],
			contentType: contentType(p),
		}
		return nil
	})
	return m, err
}

// contentTypes is fixed here rather than taken from the system's MIME tables, so that a file is
// served the same way on every machine.
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".json":  "application/json",
	".txt":   "text/plain; charset=utf-8",
	".woff2": "font/woff2",
}

func contentType(name string) string {
	if t, ok := contentTypes[path.Ext(name)]; ok {
		return t
	}
	if path.Ext(name) == "" { // VERSIONS and the like
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// StaticURL returns the fingerprinted URL of a file under static/, for example
// StaticURL("app.css") → "/static/3f2a9c0b1d4e/app.css". It panics for a path that is not
// embedded: that is a programmer error, and NewRenderer checks every path the templates use.
func StaticURL(name string) string {
	f, ok := staticFiles[name]
	if !ok {
		panic(fmt.Sprintf("assets: no static file %q", name))
	}
	return "/static/" + f.fingerprint + "/" + name
}

// Static returns the handler for the fingerprinted static files; mount it at "/static/". A
// request for /static/<fingerprint>/<path> gets the file with a one-year immutable cache
// lifetime; a wrong or stale fingerprint, or an unknown path, gets 404.
func Static() http.Handler {
	return http.HandlerFunc(serveStatic)
}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/static/")
	fingerprint, name, ok2 := strings.Cut(rest, "/")
	f := staticFiles[name]
	if !ok || !ok2 || f == nil || fingerprint != f.fingerprint {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	body, etag := f.body, `"`+f.fingerprint+`"`
	if gz := f.gzip(); gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body, etag = gz, `"`+f.fingerprint+`-gz"`
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// gzip compresses text files once, on first request, and keeps the result when it saves at
// least a tenth of the size.
func (f *staticFile) gzip() []byte {
	f.gzipOnce.Do(func() {
		if !strings.HasPrefix(f.contentType, "text/") && f.contentType != "image/svg+xml" &&
			f.contentType != "application/json" || len(f.body) < 1024 {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(f.body)
		zw.Close()
		if buf.Len() < len(f.body)*9/10 {
			f.gzipped = buf.Bytes()
		}
	})
	return f.gzipped
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
