#!/usr/bin/env bash
# Regenerates dashboard.schema.json: the JSON Schema of a Grafana 11.6 dashboard, derived from
# the `Dashboard` type of Grafana's own @grafana/schema package (Apache-2.0; the types Grafana
# generates from its CUE dashboard kind) with ts-json-schema-generator. Not run by the tests
# (they use the committed file); needs node and npm. Usage: bash tests/grafana/schema/generate.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
GRAFANA_SCHEMA_VERSION="${GRAFANA_SCHEMA_VERSION:-11.6.16}"
GENERATOR_VERSION="${GENERATOR_VERSION:-2.4.0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "@grafana/schema@${GRAFANA_SCHEMA_VERSION}" \
  "ts-json-schema-generator@${GENERATOR_VERSION}"
npx ts-json-schema-generator --no-type-check --type Dashboard \
  --path node_modules/@grafana/schema/dist/esm/raw/dashboard/x/dashboard_types.gen.d.ts \
  -o raw.json
python3 "$here/patch.py" raw.json "$here/dashboard.schema.json" "$GRAFANA_SCHEMA_VERSION"
echo "wrote $here/dashboard.schema.json"
