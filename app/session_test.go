package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wiregui/app/mail"
	"wiregui/app/mfa"
	"wiregui/app/users"
	"wiregui/store"
	"wiregui/store/storetest"
)

// A page that only read still shows when the session's activity cannot be saved for a full
// disk; a change that cannot save its session says so.
func TestSessionErrorLetsReadsThroughOnAFullDisk(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	key := []byte("test-secret-key-of-32-bytes-at-least")
	second, err := mfa.New(mfa.Options{Store: st, ExternalURL: "http://vpn.example.com", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, ExternalURL: "http://vpn.example.com", SecretKey: key, MFA: second,
		Users: &users.Service{Store: st}, Mail: &mail.Mailer{Store: st}})
	if err != nil {
		t.Fatal(err)
	}
	full := fmt.Errorf("commit session: %w: database or disk is full", store.ErrDiskFull)
	for _, tc := range []struct {
		method string
		err    error
		want   int // 0: nothing written, the page goes on
	}{
		{http.MethodGet, full, 0},
		{http.MethodHead, full, 0},
		{http.MethodPost, full, http.StatusInsufficientStorage},
		{http.MethodGet, fmt.Errorf("find session: connection refused"), http.StatusInternalServerError},
	} {
		w := httptest.NewRecorder()
		s.sessionError(w, httptest.NewRequest(tc.method, "/devices", nil), tc.err)
		got := w.Code
		if w.Body.Len() == 0 && !w.Flushed && len(w.Header()) == 0 {
			got = 0
		}
		if got != tc.want {
			t.Errorf("%s, %v: got %d, want %d", tc.method, tc.err, got, tc.want)
		}
		if tc.want == http.StatusInsufficientStorage && !strings.Contains(w.Body.String(), "The server cannot write: disk full") {
			t.Errorf("%s on a full disk: the page does not say so:\n%s", tc.method, w.Body)
		}
	}
}
