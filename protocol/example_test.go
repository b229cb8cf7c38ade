package protocol_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/toolhost/toolhost/protocol"
)

// A tool is one function from its arguments to its result. Main does the
// contract on the process's own streams; Run, shown here, on the streams
// given: it decodes stdin, prints one JSON value on success, and on
// failure the envelope (on stderr, here stdout too) with a non-zero exit
// status.
func ExampleRun() {
	greet := func(ctx context.Context, in struct{ Name string }) (map[string]string, error) {
		if in.Name == "" {
			return nil, protocol.Errorf("NO_NAME", "name is required")
		}
		return map[string]string{"greeting": "hello, " + in.Name}, nil
	}
	ok := protocol.Run(context.Background(), strings.NewReader(`{"name":"ada"}`), os.Stdout, os.Stdout, greet)
	failed := protocol.Run(context.Background(), strings.NewReader(`{}`), os.Stdout, os.Stdout, greet)
	fmt.Println("exit statuses", ok, failed)
	// Output:
	// {"greeting":"hello, ada"}
	// {"error":"name is required","code":"NO_NAME"}
	// exit statuses 0 1
}
