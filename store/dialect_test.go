package store

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

func TestParamKeepsItsNumber(t *testing.T) {
	for _, tc := range []struct {
		dialect dialect
		n       int
		pgType  string
		want    string
	}{
		{sqliteDialect, 1, "timestamptz", "$1"},
		{sqliteDialect, 10, "timestamptz", "$10"},
		{postgresDialect, 1, "timestamptz", "$1::timestamptz"},
		{postgresDialect, 10, "timestamptz", "$10::timestamptz"},
		{postgresDialect, 3500, "text", "$3500::text"},
	} {
		if got := tc.dialect.param(tc.n, tc.pgType); got != tc.want {
			t.Errorf("%s: param(%d, %q) = %q, want %q", tc.dialect.name, tc.n, tc.pgType, got, tc.want)
		}
	}
}

// Every placeholder of the queries the dialects build is whole ($ and its digits, then at
// most a cast) and they number the arguments 1..n with none missing: a text replace of "$1"
// in a query with a "$10" breaks the first, a wrong count the second.
func TestBuiltQueriesNumberTheirPlaceholders(t *testing.T) {
	type query struct {
		name  string
		query string
		args  int
	}
	// statsUpdateQuery is PostgreSQL's alone: the only dialect that batches.
	queries := []query{
		{"postgres/stats of 2 devices", statsUpdateQuery(2), 2 * len(statsColumns)},
		{"postgres/stats of a whole batch", fullStatsUpdate(), statsBatch * len(statsColumns)},
	}
	for _, d := range []dialect{sqliteDialect, postgresDialect} {
		nine := "d.a = $1 AND d.b = $2 AND d.c = $3 AND d.d = $4 AND d.e = $5 AND d.f = $6 AND d.g = $7 AND d.h = $8 AND d.i = $9"
		queries = append(queries,
			query{d.name + "/live peers", livePeerQuery(d, false), 1},
			query{d.name + "/live peers of one owner", livePeerQuery(d, true), 2},
			query{d.name + "/next expiry", nextExpiryQuery(d, false), 1},
			query{d.name + "/next expiry of one owner", nextExpiryQuery(d, true), 2},
			query{d.name + "/$10 and $11 after nine others",
				nine + " AND d.j > " + d.param(10, "timestamptz") + " AND " + d.deviceSearch(11), 11},
		)
		for _, q := range []DeviceQuery{{}, {Search: "x"}, {UserID: "u"}, {Search: "x", UserID: "u"}} {
			q.Limit = 1
			page, count, args := devicePageQueries(d, q)
			queries = append(queries,
				query{fmt.Sprintf("%s/page of %+v", d.name, q), page, len(args) + 2}, // and the limit and the offset
				query{fmt.Sprintf("%s/count of %+v", d.name, q), count, len(args)})
		}
	}
	for _, q := range queries {
		if err := checkPlaceholders(q.query, q.args); err != nil {
			t.Errorf("%s: %v in\n%s", q.name, err, q.query)
		}
	}
}

// placeholder is a $n with what follows it: a cast, then one character that must not
// continue a name or a number.
var (
	placeholder          = regexp.MustCompile(`\$(\d+)(::[a-z]+)?(.?)`)
	continuesPlaceholder = regexp.MustCompile(`[\w$:]`)
)

// checkPlaceholders returns an error unless every placeholder of query is whole and their
// numbers are exactly 1..args.
func checkPlaceholders(query string, args int) error {
	var seen []int
	for _, m := range placeholder.FindAllStringSubmatch(query, -1) {
		if next := m[3]; next != "" && continuesPlaceholder.MatchString(next) {
			return fmt.Errorf("placeholder %q runs on into %q", m[0][:len(m[0])-len(next)], next)
		}
		n, _ := strconv.Atoi(m[1])
		if !slices.Contains(seen, n) {
			seen = append(seen, n)
		}
	}
	slices.Sort(seen)
	for i, n := range seen {
		if n != i+1 {
			return fmt.Errorf("placeholders %v, want $1..$%d", seen, args)
		}
	}
	if len(seen) != args {
		return fmt.Errorf("placeholders %v, want $1..$%d", seen, args)
	}
	return nil
}
