package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// Report is the outcome of one run: the --json object of CLI.md §11.
type Report struct {
	Scenario string         `json:"scenario"`
	Params   map[string]any `json:"params"`
	Steps    []Step         `json:"steps"`
}

// Step is one rate step (or the single step of `connect`).
type Step struct {
	// Rate is the per-publisher (per-connection for shield) message rate.
	Rate           float64 `json:"rate"`
	Offered        float64 `json:"offered_deliveries_per_s"`
	Delivered      float64 `json:"delivered_per_s"`
	DeliveredRatio float64 `json:"delivered_ratio"`
	Latency        Latency `json:"latency"`
	// Drops are deliveries of messages that were sent but never arrived.
	Drops  uint64      `json:"drops"`
	Errors uint64      `json:"errors"`
	Server ServerUsage `json:"server"`

	// Details beyond the CLI.md §11 keys.
	Seconds        float64       `json:"seconds"`
	Published      uint64        `json:"published"`
	Unsent         uint64        `json:"unsent"`
	OfferedCount   uint64        `json:"offered_deliveries"`
	DeliveredCount uint64        `json:"delivered_deliveries"`
	Closed         uint64        `json:"closed_connections"`
	Acks           *AckStats     `json:"acks,omitempty"`
	NATS           *AckStats     `json:"nats,omitempty"`
	Connect        *ConnectStats `json:"connect,omitempty"`
	GeneratorCPU   float64       `json:"generator_cpu_cores"`
	// OtherCPU is the host's busy CPU during the step minus the server's
	// and the generator's: other work that competed for the cores.
	OtherCPU         *float64 `json:"other_cpu_cores"`
	ServerCPUSeconds *float64 `json:"server_cpu_seconds"`
}

// Latency holds milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// ServerUsage is null-valued without a probe.
type ServerUsage struct {
	CPUCores *float64 `json:"cpu_cores"`
	RSSBytes *int64   `json:"rss_bytes"`
}

// AckStats describes replies to publishes (bus acks, Shield acks) or NATS
// arrivals.
type AckStats struct {
	Count   uint64  `json:"count"`
	PerS    float64 `json:"per_s"`
	Latency Latency `json:"latency"`
}

// ConnectStats are the results of the connect scenario.
type ConnectStats struct {
	Attempted        int      `json:"attempted"`
	Connected        int      `json:"connected"`
	Failures         int      `json:"failures"`
	SetupSeconds     float64  `json:"setup_seconds"`
	PerS             float64  `json:"connections_per_s"`
	HoldSeconds      float64  `json:"hold_seconds"`
	StillOpen        int      `json:"still_open"`
	RSSBaselineBytes *int64   `json:"rss_baseline_bytes"`
	RSSPerConnBytes  *float64 `json:"rss_per_connection_bytes"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func latencyOf(h *Histogram) Latency {
	return Latency{P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

// WriteJSON writes r as one JSON object and a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteSummary writes the human summary.
func (r *Report) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "scenario %s\n", r.Scenario)
	for i, s := range r.Steps {
		if s.Connect != nil {
			c := s.Connect
			fmt.Fprintf(w, "connect: %d/%d connected (%d failures) in %.2fs = %.0f conn/s; setup latency p50 %s p99 %s max %s ms\n",
				c.Connected, c.Attempted, c.Failures, c.SetupSeconds, c.PerS, f3(s.Latency.P50), f3(s.Latency.P99), f3(s.Latency.Max))
			fmt.Fprintf(w, "hold %.1fs with %d open: server cpu %s cores, rss %s; other processes %s cores", c.HoldSeconds, c.StillOpen,
				cores(s.Server.CPUCores), mib(s.Server.RSSBytes), cores(s.OtherCPU))
			if c.RSSPerConnBytes != nil {
				fmt.Fprintf(w, " (%.1f KiB per connection over a %s baseline)", *c.RSSPerConnBytes/1024, mib(c.RSSBaselineBytes))
			}
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "step %d: rate %g/s: offered %.0f/s delivered %.0f/s (ratio %.4f) drops %d unsent %d errors %d closed %d\n",
			i+1, s.Rate, s.Offered, s.Delivered, s.DeliveredRatio, s.Drops, s.Unsent, s.Errors, s.Closed)
		fmt.Fprintf(w, "  latency ms: p50 %s p90 %s p99 %s p99.9 %s max %s\n",
			f3(s.Latency.P50), f3(s.Latency.P90), f3(s.Latency.P99), f3(s.Latency.P999), f3(s.Latency.Max))
		if s.Acks != nil {
			fmt.Fprintf(w, "  acks %.0f/s latency ms: p50 %s p99 %s p99.9 %s max %s\n", s.Acks.PerS,
				f3(s.Acks.Latency.P50), f3(s.Acks.Latency.P99), f3(s.Acks.Latency.P999), f3(s.Acks.Latency.Max))
		}
		if s.NATS != nil {
			fmt.Fprintf(w, "  nats arrivals %.0f/s latency ms: p50 %s p99 %s max %s\n", s.NATS.PerS,
				f3(s.NATS.Latency.P50), f3(s.NATS.Latency.P99), f3(s.NATS.Latency.Max))
		}
		fmt.Fprintf(w, "  server cpu %s cores, rss %s; generator cpu %.2f cores; other processes %s cores\n",
			cores(s.Server.CPUCores), mib(s.Server.RSSBytes), s.GeneratorCPU, cores(s.OtherCPU))
	}
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

func cores(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *p)
}

func mib(p *int64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(*p)/(1<<20))
}
