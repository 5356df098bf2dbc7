// Package wg is WireGUI's WireGuard data plane: keys, tunnel address
// allocation, client configuration files, the server interface (kernel
// WireGuard or embedded wireguard-go) with its addresses and routes, and the
// reconciler that keeps the interface equal to the state computed from the
// database.
//
// It imports no other WireGUI package.
package wg
