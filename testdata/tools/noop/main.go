// Command noop is the trivial tool of the benchmarks: it returns its
// arguments' "n" field, so every result can be checked.
package main

import (
	"context"

	"github.com/toolhost/toolhost/protocol"
)

type args struct {
	N int `json:"n"`
}

func main() {
	protocol.Main(func(_ context.Context, in args) (args, error) { return in, nil })
}
