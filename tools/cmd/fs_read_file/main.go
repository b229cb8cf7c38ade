// Command fs_read_file reads part of a regular file in the workspace.
//
// Input: {"path", "offset"?: int >= 0, "maxBytes"?: 1..524288, default
// 262144}. Output: {"path", "size", "offset", "content", "encoding",
// "truncated"}: valid UTF-8 text without NUL bytes comes back as text,
// anything else as base64. Folders and special files (devices, FIFOs,
// sockets) are refused without blocking.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"io"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/tools/internal/workspace"
)

// Limits, as tools.json states them.
const (
	defaultMaxBytes = 256 << 10
	maxMaxBytes     = 512 << 10
)

// codeBadInput: an argument is out of its documented range.
const codeBadInput = "BAD_INPUT"

type input struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	// MaxBytes 0 means the default.
	MaxBytes int `json:"maxBytes"`
}

type output struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Offset    int64  `json:"offset"`
	Content   string `json:"content"`
	Encoding  string `json:"encoding"`
	Truncated bool   `json:"truncated"`
}

func main() {
	workspace.Main(readFile)
}

// readFile reads at most maxBytes of in.Path from in.Offset.
func readFile(_ context.Context, ws *workspace.Root, in input) (output, error) {
	maxBytes := in.MaxBytes
	if maxBytes == 0 {
		maxBytes = defaultMaxBytes
	}
	if maxBytes < 1 || maxBytes > maxMaxBytes {
		return output{}, protocol.Errorf(codeBadInput, "maxBytes %d is out of range 1..%d", in.MaxBytes, maxMaxBytes)
	}
	if in.Offset < 0 {
		return output{}, protocol.Errorf(codeBadInput, "offset %d is negative", in.Offset)
	}
	clean, err := workspace.Clean(in.Path)
	if err != nil {
		return output{}, err
	}
	f, fi, err := ws.OpenRegular(in.Path)
	if err != nil {
		return output{}, err
	}
	defer f.Close()

	out := output{Path: clean, Size: fi.Size(), Offset: in.Offset, Encoding: "utf-8"}
	if in.Offset >= fi.Size() {
		// Nothing to read; and pread refuses offsets near the maximum.
		return out, nil
	}
	// One byte more than asked tells whether the file goes on.
	buf := make([]byte, maxBytes+1)
	n, err := f.ReadAt(buf, in.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return output{}, &workspace.Error{Code: workspace.CodeIO, Path: in.Path, Reason: "read: " + err.Error(), Err: err}
	}
	out.Content, out.Encoding, out.Truncated = encode(buf[:min(n, maxBytes)], n > maxBytes)
	return out, nil
}

// encode returns data as text when it is UTF-8 without NUL bytes, and as
// base64 otherwise. more says whether the file goes on after data; the
// returned truncated is true when it does or when encode kept less than
// all of data.
func encode(data []byte, more bool) (content, encoding string, truncated bool) {
	text := data
	if more {
		text = trimPartialRune(text)
	}
	if !isText(text) {
		return base64.StdEncoding.EncodeToString(data), "base64", more
	}
	keep := fitJSON(text, contentBudget)
	return string(text[:keep]), "utf-8", more || keep < len(data)
}
