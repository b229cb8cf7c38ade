package toolcheck

import (
	"io/fs"
	"os"
	"path/filepath"
)

// ScratchRoot makes the folder scratch workspaces live in. Others may
// pass through it (a tool's own user must reach its workspace) but not
// list it. The caller removes it.
func ScratchRoot() (string, error) {
	root, err := os.MkdirTemp("", "agentcli-tooltest-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(root, 0o711); err != nil {
		os.RemoveAll(root)
		return "", err
	}
	return root, nil
}

// Scratch makes a fresh workspace for the tool name under root, a copy of
// the folder template when it is not "", that the tool's user can write:
// run by root, a tool runs as another user, with others' rights.
func Scratch(root, name, template string) (string, error) {
	dir, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		return "", err
	}
	mode := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		mode = 0o777
	}
	if err := os.Chmod(dir, mode); err != nil {
		return "", err
	}
	if template != "" {
		if err := copyTree(template, dir, os.Geteuid() == 0); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// copyTree copies the folders, regular files and symbolic links of from
// into to, keeping their permission bits, and the owner's right to write
// (a read-only folder of the template is filled all the same). forOthers
// opens every copy to others as well: run by root, a tool runs as another
// user, with others' rights, and must be able to change its workspace.
func copyTree(from, to string, forOthers bool) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case rel == ".":
			return nil
		case d.IsDir():
			perm := info.Mode().Perm() | 0o700
			if forOthers {
				perm = 0o777
			}
			if err := os.Mkdir(dst, perm); err != nil {
				return err
			}
			return os.Chmod(dst, perm) // whatever the umask
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			perm := info.Mode().Perm() | 0o200
			if forOthers {
				perm |= 0o666
			}
			if err := os.WriteFile(dst, data, perm); err != nil {
				return err
			}
			return os.Chmod(dst, perm)
		}
		return nil // devices, sockets and pipes are not copied
	})
}
