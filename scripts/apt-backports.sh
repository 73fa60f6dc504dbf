#!/usr/bin/env bash
# Adds the distribution's backports suite as an apt source, from the mirror this machine is already
# configured to use for its main suite (deb822 .sources or one-line .list files): no mirror host is
# written here, so a machine behind another mirror or a proxy gets the same one.
# Prints nothing and changes nothing when a backports source exists or no main-suite source is found.
set -euo pipefail
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || exit 0
sources=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
grep -qs -- "${codename}-backports" "${sources[@]}" && exit 0

uri="" signed=""
# deb822: a stanza whose Types has deb and whose Suites has the codename itself.
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  read -r uri signed < <(awk -v want="$codename" '
    function flush() { if (deb && suite && uri != "" && !done) { print uri, signed; done = 1 } deb = suite = 0; uri = signed = "" }
    /^[[:space:]]*$/ { flush(); next }
    /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want) suite = 1 }
    /^Signed-By:/ { signed = $2 }
    END { flush() }' "$f") || true
  [ -n "$uri" ] && break
done
# one-line format: deb [options] URI SUITE COMPONENTS...
if [ -z "$uri" ]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk -v want="$codename" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == want) { print $i; exit } }' "$f")
    [ -n "$uri" ] && break
  done
fi
[ -n "$uri" ] || { echo "apt-backports: no apt source for $codename found; backports not added" >&2; exit 0; }

{
  echo "Types: deb"
  echo "URIs: $uri"
  echo "Suites: ${codename}-backports"
  echo "Components: main"
  [ -n "$signed" ] && echo "Signed-By: $signed"
} > /etc/apt/sources.list.d/qrv-backports.sources
