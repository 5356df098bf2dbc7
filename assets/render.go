package assets

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template/parse"
)

// Renderer holds the page templates, parsed once at start: each page file under
// templates/pages/ together with templates/layout.html, the pieces several pages share
// (templates/partials/*.html) and the helper functions.
type Renderer struct {
	pages map[string]*template.Template // by page name: "login" for pages/login.html
}

// NewRenderer parses every page with the layout. It fails when a template does not parse or
// names a static file that is not embedded, so that such mistakes stop the server at start.
func NewRenderer() (*Renderer, error) {
	return newRenderer(files)
}

func newRenderer(fsys fs.FS) (*Renderer, error) {
	names, err := fs.Glob(fsys, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no page templates embedded")
	}
	partials, err := fs.Glob(fsys, "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}}
	for _, name := range names {
		page := strings.TrimSuffix(path.Base(name), ".html")
		set := append(append([]string{"templates/layout.html"}, partials...), name)
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, set...)
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", page, err)
		}
		for _, ref := range staticRefs(t) {
			if _, ok := staticFiles[ref]; !ok {
				return nil, fmt.Errorf("page %s: static file %q is not embedded", page, ref)
			}
		}
		r.pages[page] = t
	}
	return r, nil
}

// Page renders the named page inside the layout and writes it with status. It renders into a
// buffer first: when the template fails, nothing has been written and the error is returned, so
// the caller can still answer with an error page.
func (r *Renderer) Page(w http.ResponseWriter, status int, page string, data any) error {
	t, ok := r.pages[page]
	if !ok {
		return fmt.Errorf("render: no page %q", page)
	}
	return write(w, status, t, "layout.html", data)
}

// Fragment renders one template defined in a page file, such as the htmx fragment
// "device-row" of the "devices" page, without the layout.
func (r *Renderer) Fragment(w http.ResponseWriter, status int, page, name string, data any) error {
	t, ok := r.pages[page]
	if !ok {
		return fmt.Errorf("render: no page %q", page)
	}
	if t.Lookup(name) == nil {
		return fmt.Errorf("render: page %q defines no template %q", page, name)
	}
	return write(w, status, t, name, data)
}

func write(w http.ResponseWriter, status int, t *template.Template, name string, data any) error {
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 { // a rare huge page does not stay in the pool
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	if err := t.ExecuteTemplate(buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// buffers hold pages while they render: a table page is about 100 kB, and growing a fresh
// buffer to that size on every request was a good part of the server's garbage.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// staticRefs lists the string arguments of every {{static "..."}} call in the template set.
func staticRefs(t *template.Template) []string {
	var refs []string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			if len(n.Args) == 2 {
				id, ok1 := n.Args[0].(*parse.IdentifierNode)
				s, ok2 := n.Args[1].(*parse.StringNode)
				if ok1 && ok2 && id.Ident == "static" {
					refs = append(refs, s.Text)
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	slices.Sort(refs)
	return slices.Compact(refs)
}
