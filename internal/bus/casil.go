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
	room, channel := env.Room, env.Channel
	if target == casil.TargetPrivate || target == casil.TargetStore {
		room, channel = "", ""
	}
	probe := *env
	probe.Room, probe.Channel = room, channel
	s.recordCasilFor(c.tenant.id, c.id, &probe, res)
}

func (s *Server) recordCasilFor(tenantID, clientID string, env *protocol.Envelope, res casil.Result) {
	if !res.Counted() {
		return
	}
	d, r := res.MetricLabels()
	s.metrics.CasilDecisions.WithLabelValues(d, r).Inc()
	res.Log(context.Background(), s.casilLog, env.ID, clientID, env.Room, env.Channel)
	if res.EmitsTelemetry() {
		s.emitEvent(s.hub.tenant(tenantID), "casil_decision", res.TelemetryData(env.Room, env.Channel, clientID, env.ID))
	}
}
