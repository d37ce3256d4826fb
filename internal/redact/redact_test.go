package redact

import "testing"

func TestURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"redis://:s3cret@db:6379/0", "redis://:***@db:6379/0"},
		{"redis://user:s3cret@db:6379/0", "redis://user:***@db:6379/0"},
		{"redis://user:@db", "redis://user:***@db"},
		{"rediss://us%40er:p%40ss@db:6380", "rediss://us%40er:***@db:6380"},
		{"redis://:p@ss@db", "redis://:***@db"},
		{"nats://s3cr3t-token@nats:4222", "nats://***@nats:4222"},
		{"nats://nats:4222", "nats://nats:4222"},
		{"REDIS://:pw@db", "redis://:***@db"},
		{"ws://h:9100/ws?token=eyJabc.def.ghi&room=science", "ws://h:9100/ws?token=REDACTED&room=science"},
		{"ws://h/ws?access_token=a&auth_token=b&api_key=c&jwt=d&keep=e", "ws://h/ws?access_token=REDACTED&auth_token=REDACTED&api_key=REDACTED&jwt=REDACTED&keep=e"},
		{"ws://h/ws?TOKEN=a", "ws://h/ws?TOKEN=REDACTED"},
		{"ws://h/ws?%74oken=a", "ws://h/ws?%74oken=REDACTED"},
		{"ws://h/ws?token=", "ws://h/ws?token="},
		{"ws://h/ws?token", "ws://h/ws?token"},
		{"ws://h/ws?token=a&token=b", "ws://h/ws?token=REDACTED&token=REDACTED"},
		{"ws://h/ws?my_token=a&tokens=b", "ws://h/ws?my_token=a&tokens=b"},
		{"https://app/cb#access_token=abc&state=1", "https://app/cb#access_token=REDACTED&state=1"},
		{"https://u:p@h/p?jwt=x#token=y", "https://u:***@h/p?jwt=REDACTED#token=REDACTED"},
		{"/ws?token=abc", "/ws?token=REDACTED"},
		{"http://127.0.0.1:9100/status", "http://127.0.0.1:9100/status"},
		{"", ""},
		{"redis://:p%zz@db", InvalidURL},
		{"http://h/\x00", InvalidURL},
		{"://nohost", InvalidURL},
	}
	for _, tc := range cases {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRegressionIsSecretName pins a bug fixed in 9bdb33f: boolean switches
// whose names match the secret rule (ARQON_SHIELD_ALLOW_QUERY_TOKEN,
// ARQONBUS_CASIL_BLOCK_ON_PROBABLE_SECRET) were redacted as secrets.
func TestRegressionIsSecretName(t *testing.T) {
	cases := map[string]bool{
		"ARQONBUS_AUTH_JWT_SECRET":                true,
		"JWT_SECRET":                              true,
		"ARQONBUS_REDIS_PASSWORD":                 true,
		"ARQONBUS_ADMIN_API_KEY":                  true,
		"ARQONBUS_OPERATOR_AUTH_TOKEN":            true,
		"ARQON_SHIELD_ALLOW_QUERY_TOKEN":          false, // a boolean switch: its name matches §4.14, its value is no secret
		"ARQONBUS_CASIL_BLOCK_ON_PROBABLE_SECRET": false,
		"ARQONBUS_AUTH_JWT":                       true,
		"--admin-api-key":                         true,
		"--jwt-secret":                            true,
		"--auth-jwt":                              true,
		"arqonbus_redis_password":                 true,
		"ARQONBUS_AUTH_JWT_ALGORITHM":             false,
		"ARQONBUS_AUTH_JWT_LEEWAY":                false,
		"ARQONBUS_REDIS_URL":                      false,
		"JWT_SKIP_VALIDATION":                     false,
		"ARQONBUS_SERVER_PORT":                    false,
	}
	for name, want := range cases {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSummaryAndState(t *testing.T) {
	if got := Summary(""); got != "<unset>" {
		t.Errorf("Summary(\"\") = %q", got)
	}
	if got := Summary("0123456789abcdef0123456789abcdef0123456789"); got != "<set, 42 bytes>" {
		t.Errorf("Summary = %q", got)
	}
	if got := Summary("é"); got != "<set, 2 bytes>" {
		t.Errorf("Summary counts bytes, got %q", got)
	}
	if State("") != "unset" || State("x") != "set" {
		t.Error("State")
	}
}
