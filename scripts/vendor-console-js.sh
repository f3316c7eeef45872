#!/bin/sh
# Vendor the ops console's JavaScript (docs/ops-console.md): uPlot (charts) and speedscope's
# release build (flame graphs), fetched with npm at the pinned versions and copied into the
# package data. The copies are committed: nobody installing tryton-ops runs npm or a CDN.
# Run it again only to change a version (edit the pins below), then commit the result.
set -eu

UPLOT_VERSION=1.6.32
SPEEDSCOPE_VERSION=1.25.0

here=$(cd "$(dirname "$0")/.." && pwd)
vendor="$here/src/tryton_ops/console/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "uplot@$UPLOT_VERSION" "speedscope@$SPEEDSCOPE_VERSION" >/dev/null
mkdir uplot speedscope
tar xzf "uplot-$UPLOT_VERSION.tgz" -C uplot --strip-components=1
tar xzf "speedscope-$SPEEDSCOPE_VERSION.tgz" -C speedscope --strip-components=1

rm -rf "$vendor"
mkdir -p "$vendor/uplot" "$vendor/speedscope"
cp uplot/dist/uPlot.iife.min.js uplot/dist/uPlot.min.css uplot/LICENSE "$vendor/uplot/"
# the release build is a static page: index.html + hashed assets; drop the bundled example
cp speedscope/dist/release/* speedscope/LICENSE "$vendor/speedscope/"
rm -f "$vendor"/speedscope/perf-vertx-stacks-*.txt
printf 'uplot %s\nspeedscope %s\n' "$UPLOT_VERSION" "$SPEEDSCOPE_VERSION" > "$vendor/VERSIONS"
echo "vendored into $vendor:"
cat "$vendor/VERSIONS"
