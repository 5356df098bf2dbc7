#!/bin/sh
# client.sh: one mock WireGuard client of compose.test.yml. It makes its own key pair, hands
# the public key to the setup service through the exchange directory, waits for the config
# WireGUI made for that key, completes it with the private key, brings the tunnel up and pings
# the other clients' tunnel addresses every PING_INTERVAL seconds, through the server.
set -eu
: "${CLIENT_NAME:?this client's name}" "${PEERS:?the other clients' names}"
: "${EXCHANGE_DIR:?the directory shared with setup}"
PING_INTERVAL=${PING_INTERVAL:-3}
here=$(dirname "$0")
trap 'exit 0' TERM INT

# The private key is made here and never leaves this container; it survives a restart of the
# container, not its recreation (setup then replaces the device).
umask 077
mkdir -p /etc/wireguard
key=/etc/wireguard/private.key
[ -s "$key" ] || wg genkey >"$key"
pub=$(wg pubkey <"$key")
echo "$pub" >"$EXCHANGE_DIR/$CLIENT_NAME.pub.tmp"
mv "$EXCHANGE_DIR/$CLIENT_NAME.pub.tmp" "$EXCHANGE_DIR/$CLIENT_NAME.pub"

conf=$EXCHANGE_DIR/$CLIENT_NAME.conf
echo "$CLIENT_NAME: public key $pub, waiting for its config from setup"
until grep -qxF "# for public key $pub" "$conf" 2>/dev/null; do sleep 1; done
sh "$here/complete-config.sh" "$key" <"$conf" >/etc/wireguard/wg0.conf

# wg-quick uses the host kernel's WireGuard when the module is there and otherwise falls back
# to wireguard-go (userspace, through /dev/net/tun).
wg-quick up wg0

# tunnel_address NAME: NAME's IPv4 tunnel address, read from the config setup made for it.
tunnel_address() {
	sed -n 's/^Address = \([0-9.]*\)\/.*/\1/p' "$EXCHANGE_DIR/$1.conf" 2>/dev/null || true
}

while :; do
	for peer in $PEERS; do
		# Read every round: a peer recreated with a new key may get a new address.
		addr=$(tunnel_address "$peer")
		if [ -z "$addr" ]; then
			echo "$CLIENT_NAME: $peer has no config yet"
		elif ping -c 1 -W 2 "$addr" >/dev/null; then
			echo "$CLIENT_NAME: $peer ($addr) answers through the tunnel"
		else
			echo "$CLIENT_NAME: no answer from $peer ($addr)"
		fi
	done
	sleep "$PING_INTERVAL"
done
