#!/usr/bin/env bash
# Builds demo_speech.ogg: four phrases spoken by espeak-ng (Debian package espeak-ng),
# separated by pauses of 0.6-1.5 s so that the silence mask has real pauses to find.
# Usage: bash assets/audio/make_demo_speech.sh   (needs espeak-ng and sox)
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() { espeak-ng -v en-us+m3 -s 150 -w "$tmp/$1.wav" "$2"; }
say 1 "Hello! I am the toon, the built-in character of this animator."
say 2 "When I speak, my mouth follows the words, and my head moves the way people move when they talk."
say 3 "When I stop, I rest."
say 4 "Then I carry on: one, two, three, four, five. Isn't that nice?"
gap() { sox -n -r 22050 -c 1 -b 16 "$tmp/gap$1.wav" trim 0 "$1"; }
gap 0.3; gap 0.6; gap 1.0; gap 1.5
sox "$tmp/gap0.3.wav" "$tmp/1.wav" "$tmp/gap1.0.wav" "$tmp/2.wav" "$tmp/gap1.5.wav" \
    "$tmp/3.wav" "$tmp/gap0.6.wav" "$tmp/4.wav" "$tmp/gap1.0.wav" "$tmp/demo.wav"
sox "$tmp/demo.wav" -C 4 demo_speech.ogg
soxi demo_speech.ogg
