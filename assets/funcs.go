package assets

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"reflect"
	"strconv"
	"time"
)

// funcs are the helpers every template may call.
var funcs = template.FuncMap{
	// static returns a file's fingerprinted URL: {{static "app.css"}}.
	"static": StaticURL,
	// json encodes a value as JSON, for a data- attribute: data-series="{{json .Series}}".
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// dict builds a map to pass several values to a template: {{template "x" dict "A" 1 "B" .}}.
	"dict": dict,
	// formValue and formError read Form.Values[key] and Form.Errors[key]; both are "" when
	// the form, the map or the key is missing: {{formError .Form "email"}}.
	"formValue": func(form any, key string) string { return formField(form, "Values", key) },
	"formError": func(form any, key string) string { return formField(form, "Errors", key) },
}

var byteUnits = []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// FormatBytes formats a byte count in binary units, rounded to whole bytes below 1 KiB and to
// one decimal above: "512 B", "1.5 KiB", "5 MiB".
func FormatBytes(v float64) string {
	if v > -1024 && v < 1024 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " B"
	}
	unit := -1
	for (v >= 1023.95 || v <= -1023.95) && unit < len(byteUnits)-1 {
		v /= 1024
		unit++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s + " " + byteUnits[unit]
}

// FormatRate formats bytes per second as FormatBytes does: "1.5 KiB/s".
func FormatRate(perSecond float64) string { return FormatBytes(perSecond) + "/s" }

// Ago describes the time from t to now in words: "3 minutes ago"; "never" for the zero time.
func Ago(now, at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	d := now.Sub(at)
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s ago"
	}
	switch {
	case d < 5*time.Second: // includes a clock slightly ahead of ours
		return "just now"
	case d < time.Minute:
		return plural(int64(d/time.Second), "second")
	case d < time.Hour:
		return plural(int64(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	default:
		return at.Format("2 Jan 2006")
	}
}

func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: want key and value pairs")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %d is a %T, want a string", i/2, kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// formField reads form.<field>[key] where form is a struct, or a pointer to one, whose field is
// a map[string]string. The page-data type lives in the app package, which imports this one, so
// it is reached by reflection; a nil form (an error page has none) reads as empty.
func formField(form any, field, key string) string {
	v := reflect.ValueOf(form)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	f := v.FieldByName(field)
	if !f.IsValid() || !f.CanInterface() {
		return ""
	}
	m, ok := f.Interface().(map[string]string)
	if !ok {
		return ""
	}
	return m[key]
}
