package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/redact"
)

func init() {
	commands["status"] = command{"Print a running bus's /status", runStatus}
	commands["version"] = command{"Print a running bus's /version (see also arqonbus --version)", runVersion}
}

// maxOpsBody bounds what status/version read from the ops API.
const maxOpsBody = 4 << 20

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runOpsGet(ctx, "status", "/status",
		"Fetches GET <http-url>/status from a running bus and prints the JSON object, indented, keys sorted.\n"+
			"/status answers 200 even while degraded: scripts read its \"status\" key.", args, stdout, stderr)
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runOpsGet(ctx, "version", "/version",
		"Fetches GET <http-url>/version from a running bus and prints the JSON object, indented, keys sorted.\n"+
			"'arqonbus --version' prints this binary's own version without any network access.", args, stdout, stderr)
}

// runOpsGet is `arqonbus status` and `arqonbus version` (CLI.md §8).
func runOpsGet(ctx context.Context, cmd, path, synopsis string, args []string, stdout, stderr io.Writer) int {
	f := newClientFlags(cmd, synopsis)
	var base string
	var timeout time.Duration
	f.str(&base, "http-url", "", defaultHTTPURL, envHTTPURL, "URL", "Ops API base URL (a trailing / is ignored)")
	f.timeout(&timeout, "Whole-request timeout")
	help, err := f.parse(args)
	if code := finishParse(f, help, err, stdout, stderr); code >= 0 {
		return code
	}
	u, err := parseBaseURL(base, "http", "https")
	if err != nil {
		return usageExit(stderr, cmd, fmt.Errorf("--http-url: %v", err))
	}
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	obj, err := fetchObject(ctx, u, timeout)
	if err != nil {
		return failExit(stderr, "%v", err)
	}
	if _, err := stdout.Write(obj); err != nil {
		return failExit(stderr, "%s: write: %v", cmd, err)
	}
	return exitOK
}

// fetchObject GETs u and returns its JSON object indented with two spaces,
// keys sorted, with a final newline. Errors are the lines of CLI.md §8.
func fetchObject(ctx context.Context, u *url.URL, timeout time.Duration) ([]byte, error) {
	shown := redact.URL(u.String())
	client := &http.Client{Timeout: timeout}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %s", shown, redact.Text(err.Error()))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %s", shown, reachError(err, timeout))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("HTTP %d from %s", resp.StatusCode, shown)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOpsBody+1))
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %s", shown, reachError(err, timeout))
	}
	out, ok := indentObject(body)
	if !ok || len(body) > maxOpsBody {
		return nil, fmt.Errorf("invalid JSON object from %s", shown)
	}
	return out, nil
}

// reachError describes a failed request without repeating its URL (the
// caller prints the redacted one).
func reachError(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("timed out after %v", timeout)
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return redact.Text(err.Error())
}

// indentObject re-encodes a JSON object with sorted keys and two-space
// indentation. Numbers keep their exact text; HTML characters are not escaped.
func indentObject(body []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(obj); err != nil {
		return nil, false
	}
	return out.Bytes(), true
}
