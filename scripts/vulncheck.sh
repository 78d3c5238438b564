#!/usr/bin/env bash
# govulncheck without vuln.go.dev: machines here reach only the Go module
# proxy, which serves the Go vulnerability database's source module
# (golang.org/x/vulndb, OSV files under data/osv). This builds the database
# from it with the module's own indexdb command and runs govulncheck
# against it. Not part of scripts/test.sh (it takes minutes and its answer
# changes with the database, not with our code).
#   VULNDB_VERSION  the golang.org/x/vulndb pseudo-version to use
#   GOVULNCHECK     the golang.org/x/vuln version
set -euo pipefail
cd "$(dirname "$0")/.."
db_version=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
vuln_version=${GOVULNCHECK:-v1.9.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$(cd "$work" && go mod download -json "golang.org/x/vulndb@$db_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
(cd "$work" && go run "golang.org/x/vulndb/cmd/indexdb@$db_version" -vulns "$src/data/osv" -out "$work/db")
go run "golang.org/x/vuln/cmd/govulncheck@$vuln_version" -db "file://$work/db" ./...
