// Package manifest turns a tools.json file into a vetted, immutable set of
// tool specs, or into errors that name the tool and the field at fault.
//
// Every goagent tools.json loads unchanged. Loading checks the file against
// the embedded JSON Schema (schemas/manifest.schema.json), applies goagent's
// rules (unique names; a relative command[0] must stay under ./tools/bin/
// and is resolved against the manifest's folder; environment names are
// upper-cased and must match [A-Z_][A-Z0-9_]*), compiles every input and
// output schema once, and vets every program: present, a regular executable
// file, owned by root or the current user, not writable by group or others,
// in folders nobody else can change, and matching its pinned sha256.
//
// A *Manifest and its *Tool values are never modified after Load returns,
// so they are safe to share between goroutines.
package manifest
