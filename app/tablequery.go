package app

import (
	"fmt"
	"net/url"
	"strconv"

	"wiregui/app/text"
)

// tableQuery is what a sorted, searched and paged table (the device tables, the users
// table) was asked to show: its URL parameters q, sort, dir and page. S is the store's type of
// the table's sorts.
type tableQuery[S ~string] struct {
	Search string
	Sort   S
	Desc   bool
	Page   int // from 1
}

// tableSorts is what a table sorts by: each sortable column with the direction a first
// click sorts it in (true: descending first), and the column it sorts by when the URL names
// none.
type tableSorts[S ~string] struct {
	first map[S]bool
	def   S
}

// search is the rule of the tables' search boxes; it is matched as typed, in NFC.
var search = text.Field{Name: "a search", Max: 200}

// parse reads a table's URL parameters; the error names the parameter.
func (ts tableSorts[S]) parse(v url.Values) (tableQuery[S], error) {
	q := tableQuery[S]{Sort: ts.def, Page: 1}
	var err error
	if q.Search, err = search.Clean(v.Get("q")); err != nil {
		return q, fmt.Errorf("q: %w", err)
	}
	if s := v.Get("sort"); s != "" {
		q.Sort = S(s)
		if _, ok := ts.first[q.Sort]; !ok {
			return q, fmt.Errorf("sort: %q is not a column this table sorts by", s)
		}
	}
	switch d := v.Get("dir"); d {
	case "":
		q.Desc = ts.first[q.Sort]
	case "asc", "desc":
		q.Desc = d == "desc"
	default:
		return q, fmt.Errorf("dir: %q is neither asc nor desc", d)
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1_000_000 {
			return q, fmt.Errorf("page: %q is not a page number", p)
		}
		q.Page = n
	}
	return q, nil
}

// values are q's URL parameters, only those that differ from the defaults.
func (ts tableSorts[S]) values(q tableQuery[S]) url.Values {
	v := url.Values{}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Sort != ts.def {
		v.Set("sort", string(q.Sort))
	}
	if q.Desc != ts.first[q.Sort] {
		v.Set("dir", map[bool]string{false: "asc", true: "desc"}[q.Desc])
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// sortedBy is q as a click on the header of column sort leaves it: the first page, sorted by
// it in its first direction, or the other way round when q is sorted by it already; and the
// header's aria-sort for q.
func (ts tableSorts[S]) sortedBy(q tableQuery[S], sort S) (to tableQuery[S], aria string) {
	to = q
	to.Sort, to.Page, to.Desc = sort, 1, ts.first[sort]
	if q.Sort != sort {
		return to, "none"
	}
	to.Desc = !q.Desc
	return to, map[bool]string{false: "ascending", true: "descending"}[q.Desc]
}

// urlOf is path with the parameters v, if any.
func urlOf(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}
