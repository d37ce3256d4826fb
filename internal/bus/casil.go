package bus

import (
	"context"

	"github.com/arqonbus/arqonbus/internal/casil"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// recordCasil applies the observable effects of one CASIL decision
// (OPERATIONS.md §8.6): the decision metric, the log line and the
// casil_decision bus event.
func (s *Server) recordCasil(c *Client, env *protocol.Envelope, res casil.Result, target string) {
	if !res.Counted() {
		return
	}
	d, r := res.MetricLabels()
	s.metrics.CasilDecisions.WithLabelValues(d, r).Inc()
	room, channel := env.Room, env.Channel
	if target == casil.TargetPrivate || target == casil.TargetStore {
		room, channel = "", ""
	}
	res.Log(context.Background(), s.casilLog, env.ID, c.id, room, channel)
	if res.EmitsTelemetry() {
		s.emitEvent(c.tenant, "casil_decision", res.TelemetryData(room, channel, c.id, env.ID))
	}
}
