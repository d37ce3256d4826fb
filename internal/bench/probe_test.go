package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	body := "# HELP process_cpu_seconds_total x\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n" +
		"process_resident_memory_bytes 2.5120768e+07\nprocess_open_fds 10\n"
	u, err := parseMetrics([]byte(body))
	if err != nil || u.CPUSeconds != 12.5 || u.RSSBytes != 25120768 {
		t.Errorf("%+v %v", u, err)
	}
	if _, err := parseMetrics([]byte("process_cpu_seconds_total 1\n")); err == nil {
		t.Error("a missing RSS must be an error")
	}
	if _, err := parseMetrics([]byte("process_cpu_seconds_total x\nprocess_resident_memory_bytes 1\n")); err == nil {
		t.Error("a malformed value must be an error")
	}
}

func TestMetricsProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("process_cpu_seconds_total 3\nprocess_resident_memory_bytes 4096\n"))
	}))
	defer srv.Close()
	u, err := MetricsProbe{URL: srv.URL}.Read(context.Background())
	if err != nil || u.CPUSeconds != 3 || u.RSSBytes != 4096 {
		t.Errorf("%+v %v", u, err)
	}
}

func TestProcParsers(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	stat := "1234 (my (odd) name) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000000 500\n"
	if cpu, err := parseProcStat([]byte(stat)); err != nil || cpu != 3 {
		t.Errorf("stat: %v %v", cpu, err)
	}
	if rss, err := parseVmRSS([]byte("Name:\tx\nVmRSS:\t  2048 kB\n")); err != nil || rss != 2048*1024 {
		t.Errorf("status: %v %v", rss, err)
	}
	if busy, err := parseMachineBusy([]byte("cpu  100 0 50 1000 20 0 10 0 0 0\ncpu0 1 2 3\n")); err != nil || busy != 1.6 {
		t.Errorf("machine: %v %v", busy, err)
	}
	u, err := PIDProbe{PID: os.Getpid()}.Read(context.Background())
	if err != nil || u.RSSBytes <= 0 {
		t.Errorf("own process: %+v %v", u, err)
	}
	if _, err := (PIDProbe{PID: 1 << 30}).Read(context.Background()); err == nil {
		t.Error("a missing process must be an error")
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte("process_cpu_seconds_total 1.5\nprocess_resident_memory_bytes 1e6 1700000000\n"))
	f.Add([]byte("process_cpu_seconds_total NaN\nprocess_resident_memory_bytes -1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseMetrics(b)
		if err == nil && (u.CPUSeconds < 0 || u.RSSBytes < 0) {
			t.Fatalf("negative usage %+v", u)
		}
	})
}

func FuzzParseProc(f *testing.F) {
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0"), []byte("VmRSS: 12 kB\n"))
	f.Add([]byte("cpu 1 2 3 4 5 6 7 8 9 10\n"), []byte("VmRSS: x kB"))
	f.Fuzz(func(t *testing.T, stat, status []byte) {
		if cpu, err := parseProcStat(stat); err == nil && cpu < 0 {
			t.Fatalf("negative cpu %v", cpu)
		}
		if rss, err := parseVmRSS(status); err == nil && rss < 0 {
			t.Fatalf("negative rss %v", rss)
		}
		if busy, err := parseMachineBusy(stat); err == nil && busy < 0 {
			t.Fatalf("negative busy %v", busy)
		}
	})
}
