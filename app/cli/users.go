package cli

import (
	"time"

	"wiregui/app/users"
	"wiregui/config"
	"wiregui/store"
)

// userFlags names the flag each field of the user service's InputErrors comes from.
var userFlags = map[string]string{"email": "email", "password": "password"}

// userService is the user service on st, telling a running server of changes.
func userService(env Env, cfg *config.Config, st *store.Store) *users.Service {
	return &users.Service{Store: st, Changed: func(string) { notifyServer(env, cfg) }}
}

func roleWord(admin bool) string { return map[bool]string{true: "admin", false: "user"}[admin] }

func timeText(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func orWord(s *string, word string) string {
	if s == nil {
		return word
	}
	return *s
}
