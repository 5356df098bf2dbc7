package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// UserSort is a column the users table can be ordered by.
type UserSort string

const (
	SortUsersByEmail   UserSort = "email"   // email (unique)
	SortUsersByRole    UserSort = "role"    // admins first, then by email
	SortUsersBySignIn  UserSort = "signin"  // last sign-in; users who never signed in count as oldest
	SortUsersByCreated UserSort = "created" // created_at
)

// maxUserPage is the largest Limit of a UserQuery.
const maxUserPage = 500

// UserQuery selects one page of users.
type UserQuery struct {
	Search string   // a part of the email, in any letter case; "" matches all
	Sort   UserSort // "" means SortUsersByEmail
	Desc   bool
	Offset int // rows to skip, >= 0
	Limit  int // 1..500
}

// UserRow is a user as the users table shows them: with the number of their devices and
// their invitation.
type UserRow struct {
	User
	Devices int
	// InvitationExpires is when the link of the invitation they have not used yet expires
	// (it may be past, until DeleteExpiredSignInTokens runs); nil when they have none.
	InvitationExpires *time.Time
}

// userOrders maps each sort to its fixed ORDER BY texts. Every order is total (email is
// unique, or the id ends it), so that pages never overlap or skip; descending is the exact
// reverse of ascending, which lets each be read from its index (migrations 00010) in either
// direction. NULLS FIRST and LAST are spelled out because PostgreSQL and SQLite disagree on
// where NULL sorts by default.
var userOrders = map[UserSort]struct{ asc, desc string }{
	SortUsersByEmail:   {"u.email", "u.email DESC"},
	SortUsersByRole:    {"u.role, u.email", "u.role DESC, u.email DESC"},
	SortUsersBySignIn:  {"u.last_signed_in_at NULLS FIRST, u.id", "u.last_signed_in_at DESC NULLS LAST, u.id DESC"},
	SortUsersByCreated: {"u.created_at, u.id", "u.created_at DESC, u.id DESC"},
}

// userSortNames lists the sorts in the order error messages name them.
var userSortNames = []UserSort{SortUsersByEmail, SortUsersByRole, SortUsersBySignIn, SortUsersByCreated}

func (q *UserQuery) validate() error {
	if q.Sort == "" {
		q.Sort = SortUsersByEmail
	}
	if _, ok := userOrders[q.Sort]; !ok {
		names := make([]string, len(userSortNames))
		for i, s := range userSortNames {
			names[i] = string(s)
		}
		return fmt.Errorf("user query: sort %q is not one of %s", q.Sort, strings.Join(names, ", "))
	}
	if q.Limit < 1 || q.Limit > maxUserPage {
		return fmt.Errorf("user query: limit %d is not in 1..%d", q.Limit, maxUserPage)
	}
	if q.Offset < 0 {
		return fmt.Errorf("user query: offset %d is negative", q.Offset)
	}
	return nil
}

// ListUsersPage returns the users of one page, each with the number of their devices, and
// how many users match q in all.
func (s *Store) ListUsersPage(ctx context.Context, q UserQuery) (users []UserRow, total int, err error) {
	if err := q.validate(); err != nil {
		return nil, 0, err
	}
	page, count, args := userPageQueries(s.dialect, q)
	scan := func(rows *sql.Rows) (UserRow, error) {
		var r UserRow
		var invitation sql.NullTime
		u, err := scanUser(countedRow{rows, []any{&r.Devices, &invitation, &total}})
		r.User, r.InvitationExpires = u, timePtr(invitation)
		return r, err
	}
	users, err = queryRows(ctx, s.reads, make([]UserRow, 0, q.Limit), scan, page, append(args, q.Limit, q.Offset)...)
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("list users: %w", err)
	case len(users) > 0 || q.Offset == 0:
		return users, total, nil
	}
	// Past the end, no row carries the total.
	if err := s.reads.QueryRowContext(ctx, count, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	return nil, total, nil
}

// userPageQueries returns the SQL, in dialect, of a page of a valid q, whose rows end with
// the number of the user's devices, their invitation's expiry and the number of all matches; the SQL of that number alone; and the
// arguments of both. The page takes two more, the limit and the offset.
//
// As devicePageQueries does, the page is chosen from the narrow rows of an inner query and
// only its users are read whole and have their devices counted (from devices_user_name). The
// inner query walks the sort's index, which holds the email too (migrations 00010): a search
// tests each entry there, without reading the table, and stops once the page is full, and the
// count reads the email index once more. At 10,000 users that is about 1 ms in SQLite for any
// search and order, where keeping the matches first (as devicePageQueries does) took 6 ms
// when most users match.
func userPageQueries(d dialect, q UserQuery) (page, count string, args []any) {
	var where string
	if search := emailSearch(q.Search); search != "" {
		args = append(args, search)
		where = " WHERE " + d.contains("u.email", len(args))
	}
	count = "SELECT count(*) FROM users u" + where
	order := userOrders[q.Sort].asc
	if q.Desc {
		order = userOrders[q.Sort].desc
	}
	page = "SELECT " + userColumnsOf("u") + ", (SELECT count(*) FROM devices d WHERE d.user_id = u.id), " + invitationExpiry + ", (" + count + ")" +
		" FROM users u WHERE u.id IN (SELECT u.id FROM users u" + where + " ORDER BY " + order +
		fmt.Sprintf(" LIMIT $%d OFFSET $%d)", len(args)+1, len(args)+2) + " ORDER BY " + order
	return page, count, args
}

// invitationExpiry is the expiry of the invitation of the user u (sign_in_tokens_user), or
// NULL. A user has one at most (CreateSignInToken replaces the earlier); the latest is taken
// all the same. It is read as a column of the table, not an aggregate, so that SQLite reads
// it as the time its column's type says.
const invitationExpiry = "(SELECT t.expires_at FROM sign_in_tokens t WHERE t.user_id = u.id AND t.purpose = '" + PurposeInvitation +
	"' ORDER BY t.expires_at DESC LIMIT 1)"

// userColumnsOf is userColumns, each prefixed with the table alias a.
func userColumnsOf(a string) string {
	return a + "." + strings.ReplaceAll(userColumns, ", ", ", "+a+".")
}

// emailSearch is a search as the stored emails are compared with it: folded as they are
// stored (NormalizeEmail). A NUL or a byte that is not UTF-8, which PostgreSQL refuses in
// text and no stored email holds, becomes U+FFFD: the search finds nothing instead of
// failing.
func emailSearch(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(NormalizeEmail(s), "\uFFFD"), "\x00", "\uFFFD")
}
