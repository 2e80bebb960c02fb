// Command acibench runs the side-by-side benchmark of prefect-azure's Python
// worker and aciworker against one Prefect server and one Azure emulator,
// and prints the table (also written as JSON, Markdown and a PNG plot).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aciworker/aciworker/bench"
	"github.com/aciworker/aciworker/bench/report"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("acibench", flag.ContinueOnError)
	var (
		ns          = fs.String("n", "10,100,500", "comma-separated workload sizes (flow runs per row)")
		workers     = fs.String("workers", bench.WorkerPython+","+bench.WorkerGo, "comma-separated workers to measure")
		engine      = fs.String("engine", bench.EngineAuto, "what runs in each container: real (prefect flow-run execute), standin (a process per run), cheap (the emulator's script containers and one stand-in daemon), or auto (real for N<="+strconv.Itoa(bench.RealMaxN)+", standin for N<="+strconv.Itoa(bench.StandinMaxN)+", cheap above)")
		sleep       = fs.Duration("standin-sleep", 20*time.Second, "how long each stand-in or cheap run stays Running")
		noThrottle  = fs.Bool("no-throttling", false, "turn the emulator's ARM throttling off")
		postgres    = fs.Bool("postgres", false, "run the Prefect server on a throwaway PostgreSQL cluster instead of SQLite")
		dbURL       = fs.String("database-url", "", "run the Prefect server on this database (SQLAlchemy URL); overrides --postgres")
		out         = fs.String("out", filepath.Join("bench", "out"), "directory for bench.json, bench.md, bench.png and logs")
		rowTimeout  = fs.Duration("row-timeout", 0, "deadline per row from the first run created (0: scaled with N)")
		addr        = fs.String("addr", "127.0.0.1:443", "emulator listen address (the Python SDK needs port 443)")
		venv        = fs.String("venv", "", "Prefect virtualenv with prefect-azure (default: the project's, created if needed)")
		cleanupWait = fs.Duration("cleanup-wait", 90*time.Second, "how long to wait for a worker's own clean-up after the last run ends")
		profile     = fs.Duration("profile", 0, "profile each row this long from the runs' release: aciworker's CPU, block and mutex profiles, the Prefect server's stacks (py-spy, installed into the virtualenv) and its database sessions; written to logs/<pool>-* and summed up in logs/<pool>-profile.md (0: off)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := bench.Config{
		Engine: *engine, StandinSleep: *sleep, Throttling: !*noThrottle, Postgres: *postgres, DatabaseURL: *dbURL,
		OutDir: *out, RowTimeout: *rowTimeout, EmulatorAddr: *addr, Venv: *venv, CleanupWait: *cleanupWait,
		Profile: *profile,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "acibench: --n: %q is not a positive integer\n", s)
			return 2
		}
		cfg.Ns = append(cfg.Ns, n)
	}
	for _, w := range strings.Split(*workers, ",") {
		cfg.Workers = append(cfg.Workers, strings.TrimSpace(w))
	}
	abs, err := filepath.Abs(cfg.OutDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acibench:", err)
		return 1
	}
	cfg.OutDir = abs

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	doc, err := bench.Run(ctx, cfg)
	if doc != nil && len(doc.Rows) > 0 {
		fmt.Printf("aciworker bench, %s, %d CPUs, %d MB, Prefect server on %s, throttling %v\n\n",
			doc.Meta.Date.Format("2006-01-02"), doc.Meta.CPUs, doc.Meta.MemoryMB, doc.Meta.Database, cfg.Throttling)
		fmt.Print(report.Table(doc.Rows))
		fmt.Printf("\nwritten: %s\n", strings.Join([]string{
			filepath.Join(abs, "bench.json"), filepath.Join(abs, "bench.md"), filepath.Join(abs, "bench.png")}, ", "))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "acibench:", err)
		return 1
	}
	return 0
}
