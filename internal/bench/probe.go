package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is one reading of a process's cumulative CPU time and resident set.
type Usage struct {
	CPUSeconds float64
	RSSBytes   int64
}

// Probe reads the server's resource usage.
type Probe interface {
	Read(ctx context.Context) (Usage, error)
}

// PIDProbe reads /proc/<PID>/stat and /proc/<PID>/status (Linux).
type PIDProbe struct{ PID int }

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// Read implements Probe.
func (p PIDProbe) Read(context.Context) (Usage, error) {
	return readProc(fmt.Sprintf("/proc/%d", p.PID))
}

// SelfUsage reads the generator's own usage.
func SelfUsage() (Usage, error) { return readProc("/proc/self") }

func readProc(dir string) (Usage, error) {
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Usage{}, err
	}
	cpu, err := parseProcStat(stat)
	if err != nil {
		return Usage{}, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Usage{}, err
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPUSeconds: cpu, RSSBytes: rss}, nil
}

// parseProcStat returns utime+stime in seconds from /proc/<pid>/stat. The
// command name (field 2) may contain spaces and parentheses, so fields are
// counted after its last ')'.
func parseProcStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return float64(ut+st) / clockTicks, nil
}

// parseVmRSS returns VmRSS in bytes from /proc/<pid>/status.
func parseVmRSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, errors.New("malformed VmRSS")
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, errors.New("malformed VmRSS")
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS (process gone?)")
}

// MetricsProbe reads process_cpu_seconds_total and
// process_resident_memory_bytes from a Prometheus text endpoint.
type MetricsProbe struct {
	URL    string
	Client *http.Client
}

// Read implements Probe.
func (p MetricsProbe) Read(ctx context.Context) (Usage, error) {
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return Usage{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Usage{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Usage{}, fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return Usage{}, err
	}
	return parseMetrics(body)
}

// parseMetrics extracts the two process metrics from Prometheus text
// exposition format.
func parseMetrics(b []byte) (Usage, error) {
	var u Usage
	var haveCPU, haveRSS bool
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, val, ok := strings.Cut(strings.TrimSpace(string(line)), " ")
		if !ok {
			continue
		}
		// A sample may carry a timestamp after the value.
		val, _, _ = strings.Cut(strings.TrimSpace(val), " ")
		switch name {
		case "process_cpu_seconds_total":
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || v < 0 || v != v {
				return Usage{}, errors.New("metrics: bad process_cpu_seconds_total")
			}
			u.CPUSeconds, haveCPU = v, true
		case "process_resident_memory_bytes":
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || v < 0 || v > 1<<62 || v != v {
				return Usage{}, errors.New("metrics: bad process_resident_memory_bytes")
			}
			u.RSSBytes, haveRSS = int64(v), true
		}
	}
	if !haveCPU || !haveRSS {
		return Usage{}, errors.New("metrics: process_cpu_seconds_total or process_resident_memory_bytes missing")
	}
	return u, nil
}

// MachineBusy returns the host's cumulative non-idle CPU seconds from
// /proc/stat (all processes: server, generator and anything else).
func MachineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineBusy(b)
}

// parseMachineBusy reads the aggregate "cpu" line of /proc/stat: every
// column except idle and iowait counts as busy.
func parseMachineBusy(b []byte) (float64, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var busy uint64
	for i, s := range f[1:] {
		if i >= 8 { // guest time is already included in user time
			break
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, errors.New("malformed /proc/stat")
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return float64(busy) / clockTicks, nil
}
