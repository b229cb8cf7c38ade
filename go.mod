module github.com/toolhost/toolhost

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/mattn/go-isatty v0.0.20
	github.com/rs/zerolog v1.35.1
	github.com/santhosh-tekuri/jsonschema/v5 v5.3.1
	golang.org/x/sys v0.49.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/sashabaranov/go-openai v1.43.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
)
