package store

import (
	"net"
	"testing"
	"time"
)

func TestConnOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		// server does something to the server's end; reading starts a read on the client's
		// end that stays blocked, as pgx's background reader may.
		server  func(net.Conn)
		reading bool
		want    bool
	}{
		{name: "idle", server: func(net.Conn) {}, want: true},
		{name: "idle with a reader waiting", server: func(net.Conn) {}, reading: true, want: true},
		{name: "the server wrote", server: func(c net.Conn) { c.Write([]byte("E")) }, want: false},
		{name: "the server closed", server: func(c net.Conn) { c.Close() }, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			client, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			if tc.reading {
				go client.Read(make([]byte, 1))
				time.Sleep(50 * time.Millisecond)
			}
			tc.server(server)
			time.Sleep(50 * time.Millisecond) // the bytes or the end arrive
			got := make(chan bool, 1)
			go func() { got <- connOpen(client) }()
			select {
			case open := <-got:
				if open != tc.want {
					t.Errorf("got open %v, want %v", open, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("connOpen blocked")
			}
		})
	}
}
