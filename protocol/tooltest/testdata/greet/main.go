// Command greet is a correct tool, for the kit's own tests.
package main

import (
	"context"

	"github.com/toolhost/toolhost/protocol"
)

func main() {
	protocol.Main(func(ctx context.Context, in struct {
		Name string `json:"name"`
	}) (map[string]string, error) {
		if in.Name == "" {
			return nil, protocol.Errorf("BAD_INPUT", "name is required")
		}
		return map[string]string{"greeting": "hello, " + in.Name}, nil
	})
}
