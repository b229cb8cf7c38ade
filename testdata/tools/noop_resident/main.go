// Command noop_resident is the trivial tool of the resident benchmarks:
// noop on resident.Main, so that the same binary runs one-shot (a
// process per call) and resident (one process over go-plugin).
package main

import (
	"context"

	"github.com/toolhost/toolhost/protocol/resident"
)

type args struct {
	N int `json:"n"`
}

func main() {
	resident.Main(func(_ context.Context, in args) (args, error) { return in, nil })
}
