// Package belt holds the checks every tool of the bundled toolbelt passes
// in its own tests, beyond the public kit's: its tools.json entry runs
// the program built from its folder, and its examples in tools/README.md
// work as written.
package belt
