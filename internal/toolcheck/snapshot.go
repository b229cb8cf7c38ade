package toolcheck

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// snapshot is what a workspace holds: each entry's type, mode, size and
// (for files up to snapHashMax) content digest, by relative path.
type snapshot map[string]string

const snapHashMax = 1 << 20

// snap reads dir; entries it cannot read are recorded as such, so a
// change in them still shows.
func snap(dir string) snapshot {
	s := snapshot{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if err != nil {
			s[rel] = "unreadable"
			return nil
		}
		info, err := d.Info()
		if err != nil {
			s[rel] = "unreadable"
			return nil
		}
		sig := fmt.Sprintf("%v %d", info.Mode(), info.Size())
		if info.Mode().IsRegular() {
			sig += fmt.Sprintf(" %d", info.ModTime().UnixNano())
			if info.Size() <= snapHashMax {
				if f, err := os.Open(p); err == nil {
					h := sha256.New()
					io.Copy(h, f)
					f.Close()
					sig += fmt.Sprintf(" %x", h.Sum(nil))
				}
			}
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			sig += " -> " + target
		}
		s[rel] = sig
		return nil
	})
	return s
}

// diff says how after differs from s, naming the first changed path; ""
// when they are the same.
func (s snapshot) diff(after snapshot) string {
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if was, ok := s[p]; !ok {
			return fmt.Sprintf("it created %s", p)
		} else if was != after[p] {
			return fmt.Sprintf("it changed %s", p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(s)) {
		if _, ok := after[p]; !ok {
			return fmt.Sprintf("it removed %s", p)
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
