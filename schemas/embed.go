// Package schemas embeds the JSON Schemas toolhost publishes: the tools.json
// manifest (policy included), the error envelope, the audit record, and
// the reports of the security audit and of tool test. Editors can point a
// tools.json at manifest.schema.json with a "$schema" key.
package schemas

import _ "embed"

// Manifest is the JSON Schema of a tools.json file.
//
//go:embed manifest.schema.json
var Manifest []byte

// Envelope is the JSON Schema of the error envelope {"error","code"}.
//
//go:embed envelope.schema.json
var Envelope []byte

// AuditRecord is the JSON Schema of one line of the audit log.
//
//go:embed audit-record.schema.json
var AuditRecord []byte

// SecurityAudit is the JSON Schema of the report of "agentcli security
// audit -json".
//
//go:embed security-audit.schema.json
var SecurityAudit []byte

// ToolTestReport is the JSON Schema of the report of "agentcli tool test
// -json".
//
//go:embed tooltest-report.schema.json
var ToolTestReport []byte
