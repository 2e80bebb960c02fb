package main

import (
	"errors"
	"io"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/aciworker/aciworker/internal/logging"
)

// logFlags are the logging settings every long-running command shares.
type logFlags struct {
	format string

	// json and log are set by logger, for report.
	json bool
	log  *slog.Logger
}

func (f *logFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.format, "log-format", "", "log format, text or json (default $"+logging.FormatEnv+" or text)")
}

// formatFrom resolves --log-format, then $ACIWORKER_LOG_FORMAT.
func (f *logFlags) formatFrom(getenv func(string) string) (logging.Format, error) {
	if f.format != "" {
		format, err := logging.ParseFormat(f.format)
		if err != nil {
			return "", usageError("--log-format: %v", err)
		}
		return format, nil
	}
	format, err := logging.ParseFormat(getenv(logging.FormatEnv))
	if err != nil {
		return "", usageError("%s: %v", logging.FormatEnv, err)
	}
	return format, nil
}

// levelFrom is DEBUG when debug is set, else $PREFECT_LOGGING_LEVEL.
func levelFrom(getenv func(string) string, debug bool) (slog.Level, error) {
	if debug {
		return slog.LevelDebug, nil
	}
	level, err := logging.ParseLevel(getenv(logging.LevelEnv))
	if err != nil {
		return 0, usageError("%s: %v", logging.LevelEnv, err)
	}
	return level, nil
}

// logger builds a command's logger on w from its flags and environment.
func (f *logFlags) logger(w io.Writer, getenv func(string) string, debug bool) (*slog.Logger, error) {
	format, err := f.formatFrom(getenv)
	if err != nil {
		return nil, err
	}
	level, err := levelFrom(getenv, debug)
	if err != nil {
		return nil, err
	}
	f.json, f.log = format == logging.JSON, logging.New(w, format, level)
	return f.log, nil
}

// report logs a command's final error as a JSON record when logs are JSON,
// so that every line on stderr stays JSON, and returns an error that main
// turns into the same exit code without printing it again. Text logs keep
// main's "aciworker: ERROR" line.
func (f *logFlags) report(err error) error {
	if err == nil || !f.json || f.log == nil {
		return err
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return err
		}
	}
	f.log.Error(err.Error(), "exit_code", code)
	return &exitError{code: code}
}
