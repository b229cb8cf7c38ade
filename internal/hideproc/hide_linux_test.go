package hideproc

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const secret = "sk-hideproc-test-0123456789"

// TestMain doubles as the program whose /proc entries are read: with
// HIDEPROC_CHILD set it hides what it is told, says so, and waits.
func TestMain(m *testing.M) {
	switch os.Getenv("HIDEPROC_CHILD") {
	case "":
		os.Exit(m.Run())
	case "some":
		key := strings.Clone(os.Getenv("HIDEPROC_KEY"))
		if err := Hide(key); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		// What Go copied still reads the same.
		if os.Getenv("HIDEPROC_KEY") != key {
			os.Stdout.WriteString("error the environment changed for Go\n")
			os.Exit(1)
		}
	case "all":
		if err := HideAll(); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
	}
	os.Stdout.WriteString("ready\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

func TestHide(t *testing.T) {
	for _, mode := range []string{"some", "all"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$", "-api-key", secret, "--other="+secret, "keep")
			cmd.Env = append(os.Environ(), "HIDEPROC_CHILD="+mode, "HIDEPROC_KEY="+secret, "PLAIN=visible")
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { in.Close(); cmd.Wait() }()
			line, _ := bufio.NewReader(out).ReadString('\n')
			if line != "ready\n" {
				t.Fatalf("child: %q", line)
			}
			pid := cmd.Process.Pid
			cmdline, err1 := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			environ, err2 := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			for name, b := range map[string][]byte{"cmdline": cmdline, "environ": environ} {
				if strings.Contains(string(b), secret) {
					t.Errorf("%s still holds the secret: %q", name, b)
				}
			}
			args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
			if args[0] != os.Args[0] {
				t.Errorf("the program's name changed: %q", args[0])
			}
			switch mode {
			case "some":
				if args[2] != "-api-key" || args[4] != "--other="+strings.Repeat("*", len(secret)) || args[5] != "keep" || !strings.Contains(string(environ), "PLAIN=visible") {
					t.Errorf("more than the secret was hidden: %q", args)
				}
			case "all":
				if strings.Contains(string(environ), "visible") || strings.Contains(string(cmdline), "keep") {
					t.Errorf("HideAll left %q / %q", cmdline, environ)
				}
			}
		})
	}
}
