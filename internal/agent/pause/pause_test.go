package pause

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProgram runs the pause program on the host: it must sleep until
// SIGTERM or SIGINT and then exit 0, and must ignore SIGCHLD.
func TestProgram(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the pause program is x86-64 only")
	}
	bin := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(bin, Program(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			// Wait until the handlers are installed, i.e. it sleeps
			// in pause(2) with SIGTERM and SIGINT caught and SIGCHLD
			// ignored.
			deadline := time.Now().Add(10 * time.Second)
			for {
				status, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
				if err != nil {
					t.Fatal(err)
				}
				if caught(status, "SigCgt", syscall.SIGTERM) && caught(status, "SigCgt", syscall.SIGINT) &&
					caught(status, "SigIgn", syscall.SIGCHLD) && strings.Contains(string(status), "State:\tS") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("pause never installed its handlers:\n%s", status)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				t.Fatalf("pause ended with %v on %v, want exit 0", err, sig)
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestArchive(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the pause program is x86-64 only")
	}
	a, err := Archive()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Archive()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("the pause archive is not deterministic")
	}
}

// caught reports whether sig's bit is set in the /proc status mask line.
func caught(status []byte, field string, sig syscall.Signal) bool {
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, field+":\t"); ok {
			mask, err := strconv.ParseUint(hex, 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
