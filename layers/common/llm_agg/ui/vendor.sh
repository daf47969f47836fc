#!/usr/bin/env bash
# Fetches the web page's libraries from their npm packages, at the pinned versions below, into
# static/vendor/<name>-<version>/ with their licences. Run by hand when a version changes (then
# update the paths in static/index.html and static/js/); the page never fetches anything at
# run time and has no build step.
set -euo pipefail

MARKED=18.2.1        # Markdown → HTML
DOMPURIFY=3.4.18     # HTML sanitizer: nothing a model writes reaches the DOM unsanitized
HIGHLIGHT=11.12.0    # code highlighting (@highlightjs/cdn-assets: its prebuilt browser files)
UPLOT=1.6.32         # charts of the Analytics view

here=$(cd "$(dirname "$0")" && pwd)
vendor="$here/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# unpack <package> <version>: the package's files land in $work/<package>/package/.
unpack() {
    local dir="$work/$1"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$1@$2" >/dev/null && tar -xzf ./*.tgz)
    echo "$dir/package"
}

# take <source dir> <target dir> <file>...: copy the files (and the licence) from a package.
take() {
    local from=$1 to="$vendor/$2"
    shift 2
    rm -rf "$to" && mkdir -p "$to"
    for file in "$@" LICENSE; do cp "$from/$file" "$to/"; done
}

take "$(unpack marked "$MARKED")" "marked-$MARKED" lib/marked.umd.js
take "$(unpack dompurify "$DOMPURIFY")" "dompurify-$DOMPURIFY" dist/purify.min.js
take "$(unpack @highlightjs/cdn-assets "$HIGHLIGHT")" "highlightjs-$HIGHLIGHT" \
    highlight.min.js styles/github.min.css styles/github-dark.min.css
take "$(unpack uplot "$UPLOT")" "uplot-$UPLOT" dist/uPlot.iife.min.js dist/uPlot.min.css

ls -R "$vendor"
