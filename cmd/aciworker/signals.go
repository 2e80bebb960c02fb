package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// notifySignals delivers SIGINT and SIGTERM on the returned channel until
// stop is called.
func notifySignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// signalExitCode follows the shell convention, 128 + signal number.
func signalExitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 128 + int(syscall.SIGINT)
}

// signalContext is parent, cancelled by the first SIGINT or SIGTERM (from
// d.signals). stop ends the watch.
func (d cmdDeps) signalContext(parent context.Context) (ctx context.Context, stop func()) {
	notify := d.signals
	if notify == nil {
		notify = notifySignals
	}
	ch, stopNotify := notify()
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		stopNotify()
		cancel()
	}
}

// watchSignals calls first on the first SIGINT or SIGTERM, which starts an
// orderly stop. A second signal means the user will not wait for it: the
// process exits at once, after saying what leftBehind says may be left.
// stop ends the watch.
func (d cmdDeps) watchSignals(stderr io.Writer, first func(os.Signal), leftBehind func() string) (stop func()) {
	notify, exit := d.signals, d.exit
	if notify == nil {
		notify = notifySignals
	}
	if exit == nil {
		exit = os.Exit
	}
	ch, stopNotify := notify()
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			first(s)
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "aciworker: received %s again; exiting now without cleaning up: %s\n", s, leftBehind())
			exit(signalExitCode(s))
		case <-done:
		}
	}()
	return func() {
		close(done)
		stopNotify()
	}
}
