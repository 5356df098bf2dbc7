// Package wg is WireGUI's WireGuard data plane: keys, tunnel address
// allocation, client configuration files, the server interface (kernel
// WireGuard or embedded wireguard-go) with its addresses and routes, the
// gateway (the firewall of package wg/firewall and IP forwarding, switched on
// only while the firewall is in the kernel), and the reconciler that keeps
// them equal to the state computed from the database.
//
// It imports no other WireGUI package.
package wg
