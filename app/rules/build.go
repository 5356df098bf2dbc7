package rules

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	"wiregui/store"
	"wiregui/wg/firewall"
)

// Input reads the policy and returns the firewall's input for the traffic of sources: the one
// builder of the firewall's description, which the data plane compiles for the kernel (with
// the devices that are live peers) and Explain and the policy tests evaluate. What cannot be
// compiled is left out, so that one bad row never takes the firewall from everyone else: a
// rule that did not read, and a source with a prefix that overlaps one of an earlier source
// (list the older devices first). problems names each, in words for an admin.
func (s *Service) Input(ctx context.Context, sources []firewall.Source) (in firewall.Input, problems []string, err error) {
	p, err := s.Policy(ctx)
	if err != nil {
		return firewall.Input{}, nil, err
	}
	in, problems = s.InputFor(p, sources)
	return in, problems, nil
}

// InputFor is Input for a policy already read: the data plane reads it once per change of
// the rules and builds the firewall for every change of the devices.
func (s *Service) InputFor(p *store.Policy, sources []firewall.Source) (firewall.Input, []string) {
	in := firewall.Input{Interface: s.Interface, Networks: s.Networks, Masquerade: s.Masquerade,
		Policy: firewall.Policy{
			PeerToPeer:  p.Settings.Firewall.PeerToPeer,
			LANToPeers:  p.Settings.Firewall.LANToPeers,
			Default:     action(p.Settings.Firewall.DefaultAction),
			UserDefault: make(map[string]firewall.Action, len(p.UserDefaults)),
		}}
	for id, a := range p.UserDefaults {
		in.Policy.UserDefault[id] = action(a)
	}
	var problems []string
	var skipped []firewall.SkippedSource
	in.Sources, skipped = firewall.Sound(sources)
	for _, sk := range skipped {
		problems = append(problems, fmt.Sprintf("device %s is left out of the firewall: %s", sk.DeviceID, sk.Reason))
	}
	in.Rules = make([]firewall.Rule, 0, len(p.Rules))
	for _, r := range p.Rules {
		if r.Problem != "" {
			problems = append(problems, fmt.Sprintf("rule %s is left out: %s", r.ID, r.Problem))
			continue
		}
		protocol, err := firewall.ParseProtocol(r.Protocol)
		fr := firewall.Rule{ID: r.ID, UserID: r.UserID, Action: action(r.Action), Destination: r.Destination,
			Protocol: protocol, Ports: firewall.Ports{From: uint16(r.PortFrom), To: uint16(r.PortTo)}, Priority: r.Priority, Seq: r.Seq}
		if err == nil {
			err = firewall.CheckRule(fr)
		}
		if err != nil { // a hand edit: the database's checks and the service's allow none
			problems = append(problems, fmt.Sprintf("rule %s is left out: %v", r.ID, err))
			continue
		}
		in.Rules = append(in.Rules, fr)
	}
	return in, problems
}

// action is the firewall's action of a stored one; the database holds accept or drop.
func action(a string) firewall.Action {
	if a == store.ActionDrop {
		return firewall.Drop
	}
	return firewall.Accept
}

// Sources returns the firewall's sources of devices, the older first: each device's tunnel
// addresses and relay subnets, with its owner. A device whose row did not read is left out,
// as it is left out of WireGuard.
func Sources(devices []store.DeviceSource) []firewall.Source {
	byAge := make([]*store.DeviceSource, len(devices))
	for i := range devices {
		byAge[i] = &devices[i]
	}
	slices.SortFunc(byAge, func(a, b *store.DeviceSource) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	out := make([]firewall.Source, 0, len(devices))
	for _, d := range byAge {
		if d.Problem != "" {
			continue
		}
		src := firewall.Source{DeviceID: d.ID, UserID: d.UserID}
		for _, a := range []netip.Addr{d.IPv4, d.IPv6} {
			if a.IsValid() {
				src.Prefixes = append(src.Prefixes, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		src.Prefixes = append(src.Prefixes, d.AllowedSubnets...)
		out = append(out, src)
	}
	return out
}
