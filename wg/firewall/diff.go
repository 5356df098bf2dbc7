package firewall

import (
	"fmt"
	"strings"
)

// diff lists how have, the kernel's table (nil when it has none), differs from want, in
// words for the log and the Rules page: empty when they are the same.
func diff(want, have *nftTable) []string {
	if have == nil {
		return []string{fmt.Sprintf("table inet %s is missing", TableName)}
	}
	out := append([]string(nil), have.strangers...)
	for i, m := range want.maps {
		out = append(out, diffMap(m, have.maps[i])...)
	}
	for _, w := range want.chains {
		h := have.chain(w.name)
		switch {
		case h == nil:
			out = append(out, fmt.Sprintf("chain %s is missing", w.name))
		case (w.base == nil) != (h.base == nil) || w.base != nil && *w.base != *h.base:
			out = append(out, fmt.Sprintf("chain %s is %q, want %q", w.name, baseText(h.base), baseText(w.base)))
		}
		if h != nil && !sameRules(w.rules, h.rules, true) {
			out = append(out, diffRules(w, h.rules)...)
		}
	}
	for _, h := range have.chains {
		if want.chain(h.name) == nil {
			out = append(out, fmt.Sprintf("chain %s is not WireGUI's", h.name))
		}
	}
	return out
}

func baseText(b *baseChain) string {
	if b == nil {
		return "a regular chain"
	}
	return b.text()
}

// diffMap says how a map's elements differ, with up to three examples of each kind.
func diffMap(want, have nftMap) []string {
	index := make(map[interval]bool, len(have.elems))
	for _, e := range have.elems {
		index[e] = true
	}
	var missing, extra []string
	wanted := make(map[interval]bool, len(want.elems))
	for _, e := range want.elems {
		wanted[e] = true
		if !index[e] {
			missing = append(missing, e.String())
		}
	}
	for _, e := range have.elems {
		if !wanted[e] {
			extra = append(extra, e.String())
		}
	}
	var out []string
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("map %s lacks %s", want.name, examples(missing, "element")))
	}
	if len(extra) > 0 {
		out = append(out, fmt.Sprintf("map %s has %s that WireGUI did not write", want.name, examples(extra, "element")))
	}
	return out
}

// diffRules says how a chain's rules differ from want's.
func diffRules(want nftChain, have []nftRule) []string {
	var foreign, ours []nftRule
	for _, r := range have {
		if r.foreign {
			foreign = append(foreign, r)
		} else {
			ours = append(ours, r)
		}
	}
	var out []string
	if len(foreign) > 0 {
		texts := make([]string, len(foreign))
		for i, r := range foreign {
			texts[i] = strings.TrimPrefix(r.text, "# ")
		}
		out = append(out, fmt.Sprintf("chain %s has %d rules WireGUI did not write: %s", want.name, len(foreign), examples(texts, "")))
	}
	if !sameRules(want.rules, ours, true) {
		switch {
		case len(ours) == 0:
			out = append(out, fmt.Sprintf("chain %s has none of its %d rules (flushed)", want.name, len(want.rules)))
		case len(ours) != len(want.rules):
			out = append(out, fmt.Sprintf("chain %s has %d of its %d rules", want.name, len(ours), len(want.rules)))
		default:
			out = append(out, fmt.Sprintf("chain %s has rules that differ from WireGUI's", want.name))
		}
	}
	return out
}

// examples names up to three of list, and how many there are in all.
func examples(list []string, noun string) string {
	shown := list
	if len(shown) > 3 {
		shown = shown[:3]
	}
	s := strings.Join(shown, "; ")
	if len(list) > len(shown) {
		s += fmt.Sprintf(" and %d more", len(list)-len(shown))
	}
	if noun == "" {
		return s
	}
	if len(list) == 1 {
		return fmt.Sprintf("1 %s (%s)", noun, s)
	}
	return fmt.Sprintf("%d %ss (%s)", len(list), noun, s)
}
