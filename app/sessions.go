package app

import (
	"context"
	"time"

	"github.com/alexedwards/scs/v2"

	"wiregui/store"
)

// sessionStore is the store scs keeps sessions in: the store's sessions, each saved with its
// owner read out of its data (the user, when they signed in, when it was last used), so that
// a user's sessions can be listed and ended by their user (store.Sessions).
type sessionStore struct {
	sessions *store.Sessions
	codec    scs.Codec // the session manager's, which encoded the data
}

func (ss sessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	return ss.sessions.FindCtx(ctx, token)
}

func (ss sessionStore) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	return ss.sessions.SaveCtx(ctx, token, data, expiry, ss.owner(data))
}

func (ss sessionStore) DeleteCtx(ctx context.Context, token string) error {
	return ss.sessions.DeleteCtx(ctx, token)
}

// Find, Commit and Delete make it an scs.Store; scs calls the methods with a context.
func (ss sessionStore) Find(token string) ([]byte, bool, error) {
	return ss.FindCtx(context.Background(), token)
}

func (ss sessionStore) Commit(token string, data []byte, expiry time.Time) error {
	return ss.CommitCtx(context.Background(), token, data, expiry)
}

func (ss sessionStore) Delete(token string) error { return ss.DeleteCtx(context.Background(), token) }

// owner reads what the session's data says of its user. The data is what the codec encoded a
// moment ago; data it cannot read names nobody.
func (ss sessionStore) owner(data []byte) store.SessionOwner {
	_, values, err := ss.codec.Decode(data)
	if err != nil {
		return store.SessionOwner{}
	}
	id, _ := values[sessionUserID].(string)
	return store.SessionOwner{UserID: id, SignedInAt: unixMilli(values[sessionSignedIn]), SeenAt: unixMilli(values[sessionSeen])}
}

// unixMilli is the time of a session value stored as Unix milliseconds; zero when it is none.
func unixMilli(v any) time.Time {
	if ms, ok := v.(int64); ok && ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}
