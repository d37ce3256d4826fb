package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// ErrNotLoopback is returned by CheckLoopback for a target that is not on
// this host.
var ErrNotLoopback = errors.New("target is not a loopback address (bench only drives services on this host)")

// CheckLoopback accepts a URL whose host is a loopback IP, or a name that
// resolves only to loopback addresses (CLI.md §11). A comma-separated list
// (NATS_URL) is checked element by element. The error never repeats the
// URL, which may carry credentials.
func CheckLoopback(ctx context.Context, raw string) error {
	for _, one := range strings.Split(raw, ",") {
		if err := checkOne(ctx, strings.TrimSpace(one)); err != nil {
			return err
		}
	}
	return nil
}

func checkOne(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("invalid URL")
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return ErrNotLoopback
		}
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("%w (host does not resolve)", ErrNotLoopback)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return ErrNotLoopback
		}
	}
	return nil
}
