#!/bin/sh
# complete-config.sh KEY_FILE < app.conf > wg0.conf
#
# Completes a config WireGUI printed for a public key: its placeholder "# PrivateKey = …"
# line becomes the key read from KEY_FILE (by awk, so the key never shows on a command line),
# and its DNS line goes: wg-quick would need resolvconf for it, and the container must keep
# Docker's resolver to find the endpoint "wiregui".
set -eu
awk -v key_file="$1" '
	/^# PrivateKey = / {
		if ((getline key < key_file) <= 0) { print "complete-config: cannot read " key_file > "/dev/stderr"; exit 1 }
		print "PrivateKey = " key
		completed = 1
		next
	}
	/^DNS = / { next }
	{ print }
	END { if (!completed) { print "complete-config: no PrivateKey placeholder in the config" > "/dev/stderr"; exit 1 } }
'
