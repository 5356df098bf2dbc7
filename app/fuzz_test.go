package app

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseListQuery reads a device table's URL parameters as a browser sends them: what it
// accepts meets the rules (the search and the owner are clean text, the page is positive),
// and the table's own link for the result reads back as the same query.
func FuzzParseListQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string, admin bool) {
		l := myDevices
		if admin {
			l = allDevices
		}
		v, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		q, err := parseListQuery(v, l)
		if err != nil {
			if name, _, _ := strings.Cut(err.Error(), ":"); !v.Has(name) {
				t.Fatalf("parseListQuery(%q): the error %q names no parameter given", rawQuery, err)
			}
			return
		}
		if clean, err := search.Clean(q.Search); err != nil || clean != q.Search || q.Page < 1 ||
			(!admin && q.Owner != "") {
			t.Fatalf("parseListQuery(%q) = %+v", rawQuery, q)
		}
		link := q.url(l.path)
		_, linkQuery, _ := strings.Cut(link, "?")
		lv, err := url.ParseQuery(linkQuery)
		if err != nil {
			t.Fatalf("parseListQuery(%q): its link %q does not parse: %v", rawQuery, link, err)
		}
		if again, err := parseListQuery(lv, l); err != nil || again != q {
			t.Fatalf("parseListQuery(%q) = %+v; its link %q reads as %+v, %v", rawQuery, q, link, again, err)
		}
	})
}
