// Command fs_write_file writes a file in the workspace atomically.
//
// Input: {"path", "content", "encoding"?: "utf-8" | "base64", "createDirs"?:
// default false, "overwrite"?: default true}. Output: {"path",
// "bytesWritten", "created"}. Readers see the old content or the new, never
// a mix; a failed write leaves the old file intact and no temporary file.
package main

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/tools/internal/workspace"
)

// maxContent bounds the bytes written, once decoded.
const maxContent = 16 << 20

// Tool codes.
const (
	// codeBadInput: an argument is out of its documented range.
	codeBadInput = "BAD_INPUT"
	// codeBadContent: content is not valid base64 although encoding says so.
	codeBadContent = "BAD_CONTENT"
)

type input struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	// Encoding "" means "utf-8".
	Encoding   string `json:"encoding"`
	CreateDirs bool   `json:"createDirs"`
	// Overwrite nil means true.
	Overwrite *bool `json:"overwrite"`
}

type output struct {
	Path         string `json:"path"`
	BytesWritten int    `json:"bytesWritten"`
	Created      bool   `json:"created"`
}

func main() {
	workspace.Main(writeFile)
}

// writeFile writes in.Content to in.Path.
func writeFile(_ context.Context, ws *workspace.Root, in input) (output, error) {
	clean, err := workspace.Clean(in.Path)
	if err != nil {
		return output{}, err
	}
	data, err := decode(in.Content, in.Encoding)
	if err != nil {
		return output{}, err
	}
	opts := workspace.WriteOptions{
		CreateDirs: in.CreateDirs,
		NoReplace:  in.Overwrite != nil && !*in.Overwrite,
	}
	created, err := ws.WriteFile(in.Path, data, opts)
	if err != nil {
		return output{}, err
	}
	return output{Path: clean, BytesWritten: len(data), Created: created}, nil
}

// decode returns the bytes content stands for.
func decode(content, encoding string) ([]byte, error) {
	var data []byte
	switch encoding {
	case "", "utf-8":
		data = []byte(content)
	case "base64":
		// protocol.MaxInput already bounds content, so decoding first
		// costs little and lets the size check below be exact.
		var err error
		data, err = base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, protocol.Errorf(codeBadContent, "content is not valid base64 (standard alphabet, with padding): %v", err)
		}
	default:
		return nil, protocol.Errorf(codeBadInput, "encoding %q is not \"utf-8\" or \"base64\"", cut(encoding))
	}
	if len(data) > maxContent {
		return nil, protocol.Errorf(workspace.CodeTooLarge, "content is %d bytes, over the limit of %d bytes (16 MiB)", len(data), maxContent)
	}
	return data, nil
}

// cut bounds how much of a bad argument an error message repeats.
func cut(s string) string {
	if len(s) > 32 {
		return fmt.Sprintf("%.32s...", s) // precision counts characters
	}
	return s
}
