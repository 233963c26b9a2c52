#!/usr/bin/env bash
# Regenerates Sources/CashierService/OpenAPIDocument.swift from Resources/openapi.json, the document's source.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo '/// The OpenAPI 3 document served at `/openapi.json`; generated from Resources/openapi.json by'
  echo '/// scripts/gen-openapi.sh, and checked against it by a test.'
  echo 'enum OpenAPIDocument {'
  echo '    static let json = #"""'
  cat Resources/openapi.json | sed '$ s/$//'
  echo '"""#'
  echo '}'
} > Sources/CashierService/OpenAPIDocument.swift
