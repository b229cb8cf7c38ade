//go:build !linux

package host

import "errors"

// watcher is Linux's (inotify); elsewhere the index checks modification
// times.
type watcher struct{}

func newWatcher() (*watcher, error) { return nil, errors.New("no inotify") }

func (*watcher) add(string) error        { return nil }
func (*watcher) forget(string)           {}
func (*watcher) drain() ([]string, bool) { return nil, false }
func (*watcher) close()                  {}
