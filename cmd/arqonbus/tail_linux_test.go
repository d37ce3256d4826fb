package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair with plain ioctls.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

// On a terminal, tail redraws a rate line on stderr and clears it on exit;
// stdout (piped) never sees it.
func TestTailRateLineOnTerminal(t *testing.T) {
	s := openBus(t)
	master, slave := openPTY(t)
	defer master.Close()

	cmd := exec.Command(cliBin, "tail", "--ws-url", s.wsURL)
	cmd.Env = cleanEnv()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var (
		mu   sync.Mutex
		term bytes.Buffer
	)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			term.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// Wait for two redraws: the welcome counted in the first second, then
	// an idle second.
	second := regexp.MustCompile(`\r\x1b\[Krate: 0 msg/s, total 1`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		done := second.Match(term.Bytes())
		mu.Unlock()
		if done {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	// The reader ends with EIO once the terminal's last writer is gone and
	// everything written was read; closing the master earlier could lose
	// the final clear.
	readerDone := make(chan struct{})
	go func() { wg.Wait(); close(readerDone) }()
	select {
	case <-readerDone:
	case <-time.After(5 * time.Second):
		master.Close()
		<-readerDone
	}
	if err != nil {
		t.Fatalf("tail: %v", err)
	}
	out := term.String()
	if !regexp.MustCompile(`\r\x1b\[Krate: 1 msg/s, total 1`).MatchString(out) || !second.MatchString(out) {
		t.Errorf("terminal output %q lacks the rate lines", out)
	}
	if !bytes.HasSuffix(term.Bytes(), []byte(clearLine)) {
		t.Errorf("terminal output %q does not end by clearing the rate line", out)
	}
	if bytes.Contains(stdout.Bytes(), []byte("rate:")) || bytes.Count(stdout.Bytes(), []byte("\n")) != 1 {
		t.Errorf("stdout %q: want only the welcome line", stdout.String())
	}
}
