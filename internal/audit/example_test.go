package audit_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolhost/toolhost/internal/audit"
)

// Verify checks a log's hash chain: an edited line is found.
func ExampleVerify() {
	dir, _ := os.MkdirTemp("", "audit-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.jsonl")
	log, err := audit.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, tool := range []string{"get_time", "fs_read_file"} {
		log.Append(&audit.Record{Call: "c-" + tool, Frontend: "cli", Tool: tool})
	}
	log.Close()

	f, _ := os.Open(path)
	rep, err := audit.Verify(f, audit.VerifyOptions{})
	f.Close()
	fmt.Println(rep.Records, err)

	data, _ := os.ReadFile(path)
	edited := strings.Replace(string(data), "fs_read_file", "fs_list_dirs", 1)
	_, err = audit.Verify(strings.NewReader(edited), audit.VerifyOptions{})
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// line 2: hash mismatch: the line was edited
}
