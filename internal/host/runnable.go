package host

import (
	"fmt"
	"io/fs"
)

// RunnableError reports a program the user a tool runs as cannot run: the
// program itself, a script's interpreter, or a folder on the way to one
// that the kernel opens by path.
type RunnableError struct {
	Tool string
	// User names who the tool runs as ("nobody (uid 65534)").
	User string
	// Path is the file or folder in the way; Need what the user lacks
	// ("execute", "read", "enter").
	Path, Need string
	// Mode and Owner describe Path; Missing says there is no Path.
	Mode    fs.FileMode
	Owner   string
	Missing bool
	// Fix says what to do.
	Fix string
}

func (e *RunnableError) Error() string { return e.Problem() + "; fix: " + e.Fix }

// Problem is the error without its fix.
func (e *RunnableError) Problem() string {
	if e.Missing {
		return fmt.Sprintf("%s cannot start: %s does not exist", e.Tool, e.Path)
	}
	return fmt.Sprintf("%s runs as %s, who cannot %s %s (mode %04o, owner %s)",
		e.Tool, e.User, e.Need, e.Path, e.Mode.Perm(), e.Owner)
}
