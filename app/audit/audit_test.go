package audit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Each event is one line with the stable attributes; failures and lockouts are warnings.
func TestLogWritesOneLineWithTheStableAttributes(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	Log(log, Event{Name: Lockout, User: "ann@example.com", UserID: "u1", Method: "password", Addr: "192.0.2.7",
		Wait: 29*time.Second + time.Millisecond})
	Log(log, Event{Name: SignIn, User: "ann@example.com", Method: "magic_link"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var lockout, signIn map[string]any
	json.Unmarshal([]byte(lines[0]), &lockout)
	json.Unmarshal([]byte(lines[1]), &signIn)
	for k, want := range map[string]any{"level": "WARN", "msg": "account", "event": "lockout", "user": "ann@example.com",
		"user_id": "u1", "method": "password", "addr": "192.0.2.7", "retry_after": float64(30)} {
		if lockout[k] != want {
			t.Errorf("lockout %s: got %v, want %v", k, lockout[k], want)
		}
	}
	for k, want := range map[string]any{"level": "INFO", "event": "sign_in", "method": "magic_link", "addr": ""} {
		if signIn[k] != want {
			t.Errorf("sign-in %s: got %v, want %v", k, signIn[k], want)
		}
	}
	if _, ok := signIn["user_id"]; ok {
		t.Error("an empty user_id was logged")
	}
}
