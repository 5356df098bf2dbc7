#!/usr/bin/env bash
# vendor.sh fetches the pinned front-end libraries from the npm registry and copies the files the
# web UI serves into static/vendor/, and the files only the tests use (axe-core, which checks the
# pages' accessibility in the browser tests) into testdata/vendor/, each folder with the licence
# texts and a VERSIONS manifest that records each file's sha256. Running it twice gives the same
# tree.
#
#   ./assets/vendor.sh          fetch, verify each tarball's integrity, rewrite both folders
#   ./assets/vendor.sh --check  offline: recompute the sha256 of every vendored file and compare
#                               with VERSIONS (the Go tests do the same)
#
# To upgrade a library: change its version and integrity below, run the script, review the diff.
# The integrity is what `npm view <package>@<version> dist.integrity` prints; the script refuses a
# tarball whose sha512 differs from the pin or from what the registry reports.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# One line per library: package, version, integrity, then "tarball-path:vendored-name" pairs.
# The first pair is the library itself; the rest are its licence files.
pins=(
	"htmx.org 2.0.11 sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA== dist/htmx.min.js:htmx.min.js LICENSE:htmx.LICENSE.txt"
	"htmx-ext-sse 2.2.4 sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ== dist/sse.min.js:htmx-ext-sse.min.js LICENSE:htmx-ext-sse.LICENSE.txt"
	"@alpinejs/csp 3.17.4 sha512-SlRXmqO6kYhnxlg+99etmuzJtE9Lk4QbKjBHqerXzaMflJqoJXdz/SI3IvHJGZ/vRVyC3bR0SSBz40oY7goBeg== dist/cdn.min.js:alpinejs-csp.min.js -:alpinejs-csp.LICENSE.txt"
	"echarts 6.1.0 sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA== dist/echarts.common.min.js:echarts.common.min.js LICENSE:echarts.LICENSE.txt NOTICE:echarts.NOTICE.txt licenses/LICENSE-d3:echarts.LICENSE-d3.txt"
)
# The tests' own: never served.
test_pins=(
	"axe-core 4.14.1 sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== axe.min.js:axe.min.js LICENSE:axe.LICENSE.txt"
)

die() { echo "vendor.sh: $*" >&2; exit 1; }

# check compares every file listed in a folder's VERSIONS with its recorded sha256 and refuses
# files in the folder that VERSIONS does not list.
check() {
	check_dir "$here/static/vendor" && check_dir "$here/testdata/vendor"
}

check_dir() {
	local vendor="$1"
	[[ -f "$vendor/VERSIONS" ]] || die "no $vendor/VERSIONS; run without --check first"
	local bad=0 listed=" VERSIONS " pkg ver file sum lic got
	while read -r pkg ver file sum lic; do
		[[ -z "$pkg" || "$pkg" == \#* ]] && continue
		listed+="$file "
		if [[ ! -f "$vendor/$file" ]]; then
			echo "missing: $file ($pkg $ver)" >&2; bad=1; continue
		fi
		got="$(sha256sum "$vendor/$file" | cut -d' ' -f1)"
		if [[ "$got" != "$sum" ]]; then
			echo "changed: $file: sha256 $got, VERSIONS says $sum" >&2; bad=1
		fi
	done <"$vendor/VERSIONS"
	for f in "$vendor"/*; do
		[[ "$listed" == *" $(basename "$f") "* ]] || { echo "not in VERSIONS: $(basename "$f")" >&2; bad=1; }
	done
	((bad == 0)) || die "vendored files in $vendor do not match VERSIONS"
	echo "vendor.sh: ${vendor#"$here"/} matches VERSIONS"
}

# sri prints the subresource-integrity form (sha512-<base64>) of a file's digest.
sri() { printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

# mit_notice writes a licence file for a package whose tarball carries none, from the licence and
# author its package.json declares.
mit_notice() {
	local pkgdir="$1" out="$2" name license author
	name="$(node -p 'require(process.argv[1]).name' "$pkgdir/package.json")"
	license="$(node -p 'require(process.argv[1]).license' "$pkgdir/package.json")"
	author="$(node -p 'const a = require(process.argv[1]).author; typeof a === "object" ? a.name : a' "$pkgdir/package.json")"
	[[ "$license" == "MIT" ]] || die "$name: declares licence $license; write its notice by hand"
	cat >"$out" <<EOF
The npm tarball of $name ships no licence file. Its package.json declares the licence
"MIT" and the author "$author"; the MIT License terms follow.

MIT License

Copyright (c) $author and contributors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF
}

fetch() {
	command -v npm >/dev/null || die "npm is not installed"
	command -v openssl >/dev/null || die "openssl is not installed"
	tmp="$(mktemp -d)" # global: the EXIT trap runs after this function has returned
	trap 'rm -rf "$tmp"' EXIT
	fetch_into "$here/static/vendor" "${pins[@]}"
	fetch_into "$here/testdata/vendor" "${test_pins[@]}"
	check
}

# fetch_into fetches the libraries of the pins that follow the folder and rewrites the folder.
fetch_into() {
	local vendor="$1" stage="$tmp/stage"
	shift
	rm -rf "$stage"
	mkdir -p "$stage"
	local manifest="$stage/VERSIONS"
	{
		echo "# Written by assets/vendor.sh; checked by its --check mode and by the Go tests."
		echo "# package version file sha256 license"
	} >"$manifest"

	local line pkg ver want pairs tgz got registry license pair src dst sum
	for line in "$@"; do
		read -r pkg ver want pairs <<<"$line"
		echo "vendor.sh: $pkg@$ver"
		registry="$(npm view "$pkg@$ver" dist.integrity 2>"$tmp/npm.log")" || { cat "$tmp/npm.log" >&2; die "npm view $pkg@$ver failed"; }
		[[ "$registry" == "$want" ]] || die "$pkg@$ver: the registry reports integrity $registry, the pin says $want"
		tgz="$(npm pack --silent --pack-destination "$tmp" "$pkg@$ver" 2>"$tmp/npm.log" | tail -n1)" || { cat "$tmp/npm.log" >&2; die "npm pack $pkg@$ver failed"; }
		got="$(sri "$tmp/$tgz")"
		[[ "$got" == "$want" ]] || die "$pkg@$ver: tarball integrity $got, want $want"
		rm -rf "$tmp/package"
		tar -xzf "$tmp/$tgz" -C "$tmp"
		license="$(node -p 'require(process.argv[1]).license || ""' "$tmp/package/package.json")"
		if [[ -z "$license" ]]; then
			# htmx-ext-sse declares no licence in package.json; its LICENSE file is 0BSD.
			grep -q '^BSD Zero Clause License' "$tmp/package/LICENSE" || die "$pkg@$ver: unknown licence"
			license="0BSD"
		fi
		for pair in $pairs; do
			src="${pair%%:*}" dst="${pair#*:}"
			if [[ "$src" == "-" ]]; then
				mit_notice "$tmp/package" "$stage/$dst"
			else
				[[ -f "$tmp/package/$src" ]] || die "$pkg@$ver: no $src in the tarball"
				cp "$tmp/package/$src" "$stage/$dst"
			fi
			chmod 0644 "$stage/$dst"
			sum="$(sha256sum "$stage/$dst" | cut -d' ' -f1)"
			printf '%s %s %s %s %s\n' "$pkg" "$ver" "$dst" "$sum" "$license" >>"$manifest"
		done
	done

	mkdir -p "$vendor"
	rm -f "$vendor"/*
	cp "$stage"/* "$vendor"/
}

case "${1:-}" in
"") fetch ;;
--check) check ;;
*) die "usage: $0 [--check]" ;;
esac
