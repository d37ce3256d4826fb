package httpapi

// Status is the /status body (OPERATIONS.md §6.3). Every key is always
// present. The handler overwrites Status, Ready (from Source.Ready and
// RollUp), Service, Version, Timestamp, Endpoints.HTTP and
// Endpoints.WebSocket (always true), UptimeSeconds (Options.Metrics start
// time) and Messages (read back from the metrics registry, so /status
// agrees with /metrics). The Source fills everything else.
type Status struct {
	Status        string          `json:"status"` // healthy iff Ready == "ready", else degraded
	Ready         string          `json:"ready"`
	Service       string          `json:"service"`
	Version       string          `json:"version"`
	Environment   string          `json:"environment"`
	Timestamp     string          `json:"timestamp"`
	UptimeSeconds float64         `json:"uptime_seconds"`
	Endpoints     Endpoints       `json:"endpoints"`
	Addresses     Addresses       `json:"addresses"`
	Clients       Clients         `json:"clients"`
	Rooms         int64           `json:"rooms"`
	Channels      int64           `json:"channels"`
	Messages      Messages        `json:"messages"`
	Storage       StorageStatus   `json:"storage"`
	Telemetry     TelemetryStatus `json:"telemetry"`
	CASIL         CASILStatus     `json:"casil"`
	NATS          NATSStatus      `json:"nats"`
}

// Endpoints says which parts of the server are serving. Storage is true
// while storage is healthy; Telemetry while the telemetry server runs.
type Endpoints struct {
	HTTP      bool `json:"http"`
	WebSocket bool `json:"websocket"`
	Storage   bool `json:"storage"`
	Telemetry bool `json:"telemetry"`
}

// Addresses are the actually bound listener URLs, e.g.
// ws://127.0.0.1:9100/ws, ws://127.0.0.1:8081/ and http://127.0.0.1:8080.
type Addresses struct {
	WebSocket string `json:"websocket"`
	Telemetry string `json:"telemetry"`
	HTTP      string `json:"http"`
}

// Clients counts bus connections over all tenants.
type Clients struct {
	Active int64         `json:"active"`
	ByType ClientsByType `json:"by_type"`
}

// ClientsByType always carries the four client types of PROTOCOL.md §3.2.
type ClientsByType struct {
	Human     int64 `json:"human"`
	AIAgent   int64 `json:"ai-agent"`
	Dashboard int64 `json:"dashboard"`
	Service   int64 `json:"service"`
}

// Messages are process-lifetime message totals.
type Messages struct {
	ReceivedTotal  int64 `json:"received_total"`
	DeliveredTotal int64 `json:"delivered_total"`
	ErrorsTotal    int64 `json:"errors_total"`
}

// StorageStatus describes the history backend. URL is the Redis/Valkey URL
// with its password replaced by *** , or nil (JSON null) for memory.
type StorageStatus struct {
	Backend  string  `json:"backend"`
	Mode     string  `json:"mode"`
	Healthy  bool    `json:"healthy"`
	Degraded bool    `json:"degraded"`
	URL      *string `json:"url"`
}

// TelemetryStatus describes the telemetry WebSocket server.
type TelemetryStatus struct {
	Enabled     bool  `json:"enabled"`
	Connections int64 `json:"connections"`
}

// CASILStatus describes the CASIL configuration.
type CASILStatus struct {
	Enabled bool   `json:"enabled"`
	Mode    string `json:"mode"`
}

// NATSStatus describes the cluster connection.
type NATSStatus struct {
	Enabled   bool `json:"enabled"`
	Connected bool `json:"connected"`
}
