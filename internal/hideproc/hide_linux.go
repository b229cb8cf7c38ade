package hideproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Hide overwrites every occurrence of each secret in this process's
// command line and environment, as the kernel shows them, with '*'. Empty
// secrets are skipped. Values Go copied already (os.Getenv) keep working;
// os.Args shares the command line's memory, so a secret there reads as
// stars afterwards: copy what you need first.
func Hide(secrets ...string) error {
	return rewrite(func(area []byte, _ bool) {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			for i := 0; ; {
				j := bytes.Index(area[i:], []byte(s))
				if j < 0 {
					break
				}
				copy(area[i+j:], bytes.Repeat([]byte{'*'}, len(s)))
				i += j + len(s)
			}
		}
	})
}

// HideAll overwrites the command line after the program's name and the
// whole environment with '*', keeping the separators: for a process that
// passed them on and needs them no more.
func HideAll() error {
	return rewrite(func(area []byte, isArgs bool) {
		start := 0
		if isArgs {
			start = bytes.IndexByte(area, 0) + 1
			if start == 0 {
				return
			}
		}
		for i := start; i < len(area); i++ {
			if area[i] != 0 {
				area[i] = '*'
			}
		}
	})
}

// rewrite reads the argument and environment areas, lets change edit
// them, and writes back what changed.
func rewrite(change func(area []byte, isArgs bool)) error {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return err
	}
	// Fields after the command's name, which may hold spaces: field 3
	// (state) is fields[0]; arg_start..env_end are fields 48 to 51.
	i := bytes.LastIndexByte(stat, ')')
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 49 {
		return fmt.Errorf("/proc/self/stat has %d fields, too few for the argument addresses", len(fields)+2)
	}
	addr := func(n int) (int64, error) {
		v, err := strconv.ParseUint(fields[n-3], 10, 64)
		return int64(v), err
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	for _, a := range []struct {
		start, end int
		args       bool
	}{{48, 49, true}, {50, 51, false}} {
		start, err1 := addr(a.start)
		end, err2 := addr(a.end)
		if err1 != nil || err2 != nil || end < start || end-start > 64<<20 {
			return fmt.Errorf("/proc/self/stat: bad addresses %q..%q", fields[a.start-3], fields[a.end-3])
		}
		area := make([]byte, end-start)
		if _, err := mem.ReadAt(area, start); err != nil {
			return fmt.Errorf("read the process's arguments: %w", err)
		}
		before := bytes.Clone(area)
		change(area, a.args)
		if !bytes.Equal(before, area) {
			if _, err := mem.WriteAt(area, start); err != nil {
				return fmt.Errorf("overwrite the process's arguments: %w", err)
			}
		}
	}
	return nil
}
