// Package httpserve serves one handler on one address for the life of a
// context: the side servers of aciworker start (metrics, profiles).
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// readHeaderTimeout bounds how long a client may take to send its headers,
// so that a stalled client cannot hold a connection open.
const readHeaderTimeout = 10 * time.Second

// Serve listens on addr and serves h until ctx ends; what names the
// server in errors and logs. It returns the address it listens on (port 0
// picks one) once listening.
func Serve(ctx context.Context, what, addr string, h http.Handler, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s server on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" server stopped", "err", err)
		}
	}()
	go func() { <-ctx.Done(); srv.Close() }()
	return ln.Addr().String(), nil
}
