#!/bin/sh
# setup.sh: the setup service of compose.test.yml. It runs in the wiregui image, against the
# server's database (same data volume, same WG_* settings), and creates one device per mock
# client with the CLI. A client leaves its public key in the exchange directory as NAME.pub
# and gets back NAME.conf: the config WireGUI printed for that key, whose PrivateKey line is a
# placeholder that only the client can fill in. No private key ever passes through here.
#
# It keeps watching, so a client recreated with a new key gets a new device. The server
# applies the new devices at once: the CLI signals it through the PID namespace this
# container shares with it (compose.test.yml).
set -eu
: "${CLIENTS:?the names of the mock clients}" "${MOCK_USER:?the email that owns their devices}"
: "${EXCHANGE_DIR:?the directory shared with the clients}"
trap 'exit 0' TERM INT

# allow_failure MESSAGE COMMAND...: run COMMAND; a failure that prints MESSAGE is expected.
allow_failure() {
	message=$1
	shift
	if out=$("$@" 2>&1); then
		printf '%s\n' "$out"
		return
	fi
	case $out in
	*"$message"*) ;;
	*) printf '%s\n' "$out" >&2; return 1 ;;
	esac
}

# provision NAME PUBLIC_KEY: create NAME's device for PUBLIC_KEY and write NAME.conf, headed
# by a comment that names the key, so that a client never uses a config made for an old key.
provision() {
	# A client recreated since the last run has a new key: its old device goes first.
	allow_failure "has no device named" wiregui device delete --user "$MOCK_USER" --name "$1"
	{
		echo "# for public key $2"
		wiregui device add --user "$MOCK_USER" --name "$1" --public-key "$2"
	} >"$EXCHANGE_DIR/$1.conf.tmp"
	mv "$EXCHANGE_DIR/$1.conf.tmp" "$EXCHANGE_DIR/$1.conf"
}

# The user outlives `docker compose down` without -v, in the data volume.
allow_failure "already exists" wiregui user add --email "$MOCK_USER"

echo "setup: waiting for the public keys of $CLIENTS in $EXCHANGE_DIR"
while :; do
	for name in $CLIENTS; do
		[ -s "$EXCHANGE_DIR/$name.pub" ] || continue
		pub=$(cat "$EXCHANGE_DIR/$name.pub")
		grep -qxF "# for public key $pub" "$EXCHANGE_DIR/$name.conf" 2>/dev/null && continue
		provision "$name" "$pub"
	done
	sleep 2
done
