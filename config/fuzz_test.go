package config

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzSettingValue gives one value to every setting in turn, as an environment variable.
// A refused value is refused with the variable's name first; an accepted one survives the
// trip the collector child makes: Env, then Load again, gives the same configuration.
func FuzzSettingValue(f *testing.F) {
	dir := f.TempDir() // the data dir: no config file in it
	f.Fuzz(func(t *testing.T, value string) {
		for _, s := range settings() {
			if s.parse == nil || s.name == nameConfigFile || s.name == nameDataDir {
				continue // these two name files to read; the data dir is fixed above
			}
			c, err := load(nil, mapEnv(map[string]string{nameDataDir: dir, s.name: value}), 1000, false)
			if err != nil {
				if !strings.HasPrefix(err.Error(), s.name) {
					t.Fatalf("%s=%q: the error %q does not start with the variable", s.name, value, err)
				}
				continue
			}
			env := map[string]string{}
			for _, kv := range c.Env() {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			again, err := load(nil, mapEnv(env), 1000, false)
			if err != nil {
				t.Fatalf("%s=%q: loading its Env %q fails: %v", s.name, value, c.Env(), err)
			}
			if got, want := exported(again), exported(c); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s=%q: Load(Env()) differs:\ngot  %+v\nwant %+v", s.name, value, got, want)
			}
		}
	})
}

// FuzzParseFile checks the config file parser: an error names the file, and what it accepts
// the writer writes back as a file that reads the same.
func FuzzParseFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseFile("wiregui.conf", data)
		if err != nil {
			if !strings.Contains(err.Error(), "wiregui.conf") {
				t.Fatalf("parseFile(%q): the error %q does not name the file", data, err)
			}
			return
		}
		var pairs [][2]string
		for _, v := range Variables() {
			if e, ok := entries[v.Name]; ok {
				pairs = append(pairs, [2]string{v.Name, e.value})
			}
		}
		written, err := render(pairs)
		if err != nil {
			t.Fatalf("parseFile(%q) accepted %q, which the writer refuses: %v", data, pairs, err)
		}
		again, err := parseFile("again.conf", written)
		if err != nil {
			t.Fatalf("parseFile(%q) accepted %q; the file written from it is refused: %v\n%s", data, pairs, err, written)
		}
		for _, kv := range pairs {
			if got := again[kv[0]].value; got != kv[1] {
				t.Fatalf("parseFile(%q): %s=%q, written and read back as %q\n%s", data, kv[0], kv[1], got, written)
			}
		}
		if len(again) != len(pairs) {
			t.Fatalf("parseFile(%q): %d settings, read back %d\n%s", data, len(pairs), len(again), written)
		}
	})
}
