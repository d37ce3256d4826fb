package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSecretInAnyOutput runs preflight, in both formats, with known
// secret values everywhere a secret can be configured (secret variables,
// URL passwords, NATS user info, token query parameters) and scans stdout,
// stderr and both incident files for each of them (§1, issue item 3).
func TestNoSecretInAnyOutput(t *testing.T) {
	secrets := map[string]string{
		"JWT_SECRET":               "leak-shield-secret-9f8e7d6c5b4a39281706",
		"ARQONBUS_AUTH_JWT_SECRET": "leak-bus-secret-0a1b2c3d4e5f6a7b8c9d0e1f",
		"ARQONBUS_ADMIN_API_KEY":   "leak-admin-key-11223344556677889900aabb",
		"ARQONBUS_REDIS_PASSWORD":  "leak-redis-password-5566778899",
		"ARQONBUS_AUTH_JWT":        "leak-client-jwt-aabbccddeeff00112233",
	}
	urlSecrets := []string{"leak-redis-url-pw-12345678", "leak-nats-user-pw-87654321", "leak-nats-token-user-000111", "leak-ollama-pw-424242"}
	dead := closedAddr(t)
	var env []string
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"ARQONBUS_REDIS_URL=redis://:"+urlSecrets[0]+"@"+dead+"/0",
		"ARQONBUS_STORAGE_MODE=strict",
		"NATS_URL=nats://ops:"+urlSecrets[1]+"@"+dead+",nats://"+urlSecrets[2]+"@"+dead,
		"ARQONBUS_OLLAMA_ENABLED=true", "ARQONBUS_OLLAMA_URL=http://admin:"+urlSecrets[3]+"@"+dead,
		"ARQONBUS_ENABLE_AUTH=true",
		"ARQONBUS_WS_URL=ws://127.0.0.1:9100/?token="+secrets["ARQONBUS_AUTH_JWT"],
		"ARQONBUS_RATE_LIMIT_BURST=abc", // a loader problem too
	)
	all := append([]string{}, urlSecrets...)
	for _, v := range secrets {
		all = append(all, v)
	}
	for _, format := range []string{"text", "json"} {
		dir := t.TempDir()
		r := runCLI(t, env, "--format", format, "--timeout", "300ms", "--incident-dir", dir,
			"--runtime", "--bus-http-url", "http://"+dead, "--telemetry-url", "ws://"+dead+"/",
			"--shield-url", "ws://"+dead+"/ws?access_token="+secrets["ARQONBUS_AUTH_JWT"])
		if r.code != ExitNoGo {
			t.Fatalf("%s: exit %d: %s", format, r.code, r.stderr)
		}
		outputs := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) != 2 {
			t.Fatalf("%s: incident files %v", format, files)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			outputs[filepath.Base(f)] = string(b)
		}
		for name, out := range outputs {
			for _, s := range all {
				if strings.Contains(out, s) {
					t.Errorf("%s: %s contains secret %q", format, name, s)
				}
			}
		}
		if !strings.Contains(outputs["stdout"], ":***@") {
			t.Errorf("%s: redacted URL form missing from the report", format)
		}
	}
}

func TestEnvironmentSnapshotRedaction(t *testing.T) {
	snap := envSnapshot([]string{"JWT_SECRET=abc", "NATS_URL=nats://u:p4ssw0rd@h:4222", "PATH=/bin",
		"POLICY_WASM_PATH=/p.wasm", "ARQONBUS_ADMIN_API_KEY=", "OLLAMA_HOST=x", "SHIELD_X=y"}, nil)
	want := map[string]string{"JWT_SECRET": "<set, 3 bytes>", "NATS_URL": "nats://u:***@h:4222",
		"POLICY_WASM_PATH": "/p.wasm", "ARQONBUS_ADMIN_API_KEY": "<unset>", "OLLAMA_HOST": "x", "SHIELD_X": "y"}
	if len(snap) != len(want) {
		t.Errorf("snapshot %v", snap)
	}
	for k, v := range want {
		if snap[k] != v {
			t.Errorf("%s = %q, want %q", k, snap[k], v)
		}
	}
}
