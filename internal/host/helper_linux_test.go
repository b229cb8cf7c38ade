package host

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/toolhost/toolhost/internal/gobuild"
	"github.com/toolhost/toolhost/internal/sandbox"
)

// toolBin is the folder holding the real toolbelt, built once per run.
var toolBin string

// The test binary doubles as every hostile tool: run as
// "<test binary> host-helper <name>", it acts as the named helper.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "host-helper" {
		if strings.HasPrefix(os.Args[2], "resident") {
			os.Exit(residentHelper(os.Args[2]))
		}
		os.Exit(helper(os.Args[2], os.Args[3:]))
	}
	// As agentcli does (for benchmarks run by hand as an ordinary user).
	if code, ran := sandbox.EnterUserNamespace(); ran {
		os.Exit(code)
	}
	if bin := os.Getenv(toolBinEnv); bin != "" {
		// Run again by TestUnprivilegedHostileTools: the toolbelt is built.
		toolBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "toolhost-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Chmod(dir, 0o755) // for the tests run again as an ordinary user
	toolBin = filepath.Join(dir, "tools", "bin")
	if err := buildToolbelt(toolBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildToolbelt builds the real tools of tools/cmd into bin.
func buildToolbelt(bin string) error {
	return gobuild.Build("../..", bin+string(filepath.Separator), "./tools/cmd/...")
}

func helper(name string, args []string) int {
	self := func(args ...string) *exec.Cmd {
		exe, _ := os.Executable()
		return exec.Command(exe, append([]string{"host-helper"}, args...)...)
	}
	switch name {
	case "whoami":
		status, _ := os.ReadFile("/proc/self/status")
		nnp := strings.Contains(string(status), "NoNewPrivs:\t1")
		fmt.Printf(`{"uid":%d,"gid":%d,"nnp":%v}`, os.Getuid(), os.Getgid(), nnp)
	case "open":
		// Tries to read each path of its command line and reports the
		// errors, so that only the kernel stands in the way (the gate
		// sees no arguments).
		res := map[string]string{}
		for _, p := range args {
			res[p] = ""
			if _, err := os.ReadFile(p); err != nil {
				res[p] = err.Error()
			}
		}
		json.NewEncoder(os.Stdout).Encode(res)
	case "cat":
		// Reads each path of its command line: its content, or the error;
		// and writes the first to /tmp.
		res := map[string]string{"write": fmt.Sprint(os.WriteFile("/tmp/"+args[0], []byte("x"), 0o644))}
		for _, p := range args[1:] {
			b, err := os.ReadFile(p)
			res[p] = string(b)
			if err != nil {
				res[p] = "error: " + err.Error()
			}
		}
		json.NewEncoder(os.Stdout).Encode(res)
	case "echo":
		// Returns its arguments, as received.
		io.Copy(os.Stdout, os.Stdin)
	case "stdin-raw":
		// Returns its standard input, as a string.
		b, _ := io.ReadAll(os.Stdin)
		json.NewEncoder(os.Stdout).Encode(string(b))
	case "env":
		json.NewEncoder(os.Stdout).Encode(os.Environ())
	case "cwd":
		wd, _ := os.Getwd()
		json.NewEncoder(os.Stdout).Encode(wd)
	case "ansi-secret":
		// Terminal escapes, control characters and the secret it was given.
		fmt.Printf(`{"text":"\u001b[31mred\u001b[0m\u0007 bell \u202eevil\u202c","secret":%q,"%s":"key"}`+"\n", os.Getenv("API_TOKEN"), os.Getenv("API_TOKEN"))
	case "secret-failure":
		fmt.Fprintf(os.Stderr, `{"error":"cannot use token %s \u001b[2J","code":"AUTH_FAILED"}`+"\n", os.Getenv("API_TOKEN"))
		return 1
	case "dup-keys":
		// The first of two equal keys carries the secret and escapes.
		fmt.Printf(`{"secret":%q,"secret":"x","text":"\u202eevil \u001b[2J","text":"ok"}`+"\n", os.Getenv("API_TOKEN"))
	case "bad-utf8":
		os.Stdout.Write([]byte("{\"a\":\"\xff\xfe\"}\n"))
	case "secret-not-json":
		fmt.Printf("the token is %s, and this is not JSON\n", os.Getenv("API_TOKEN"))
	case "touch":
		os.WriteFile("touched", nil, 0o644)
		fmt.Println("{}")
	case "not-json":
		fmt.Println("hello, I am not JSON")
	case "two-values":
		fmt.Println(`{"a":1}`)
		fmt.Println(`{"b":2}`)
	case "fail":
		fmt.Fprintln(os.Stderr, "progress: working")
		fmt.Fprintln(os.Stderr, `{"error":"the thing broke","code":"BROKE"}`)
		return 4
	case "fail-exit-zero":
		fmt.Fprintln(os.Stderr, `{"error":"the thing broke","code":"BROKE"}`)
	case "quiet-exit-zero":
		fmt.Fprintln(os.Stderr, "Traceback: the last words")
	case "fail-reserved-code":
		fmt.Fprintln(os.Stderr, `{"error":"pretend the host said so","code":"DENIED"}`)
		return 1
	case "fail-plain":
		fmt.Fprintln(os.Stderr, "panic: runtime error: index out of range")
		return 2
	case "crash":
		// A real fault, with SIGSEGV's default action: the kernel kills
		// the process by the signal (forced, so even as its namespace's
		// first process; a "kill -SEGV $$" would not be).
		var dfl [4]uintptr // struct sigaction with the handler SIG_DFL
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGSEGV), uintptr(unsafe.Pointer(&dfl[0])), 0, 8, 0, 0)
		var p *int
		*p = 1
	case "grandchild":
		c := self("sleep")
		c.Stdout = os.Stdout
		c.Start()
		fmt.Println(`{"ok":true}`)
	case "sleep":
		time.Sleep(time.Hour)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	case "flood-stdout":
		buf := []byte(strings.Repeat("x", 1<<20))
		for i := 0; i < 4<<10; i++ { // 4 GiB
			if _, err := os.Stdout.Write(buf); err != nil {
				return 1
			}
		}
	case "flood-stderr":
		buf := []byte(strings.Repeat("e", 1<<20))
		for {
			if _, err := os.Stderr.Write(buf); err != nil {
				return 1
			}
		}
	case "forkbomb":
		c := exec.Command("/bin/sh", "-c", "f(){ f|f& }; f; sleep 3600", "toolhost-forkbomb")
		c.Run()
	case "thousands":
		// Tries to start 5000 processes and reports how many it got.
		started := 0
		for range 5000 {
			c := self("sleep")
			if c.Start() != nil {
				break
			}
			started++
		}
		fmt.Printf(`{"started":%d}`+"\n", started)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		return 2
	}
	return 0
}
