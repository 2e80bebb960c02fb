// Command acisoak runs the fault-injection soak: many flow runs through
// `aciworker start` against a real Prefect server and the Azure emulator,
// with ARM faults, killed containers, SIGKILLed workers, a Prefect restart
// and hostile input, then checks that nothing was lost, duplicated, left
// behind or leaked. It exits 1 when any check fails, 2 on usage errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aciworker/aciworker/soak"
)

func main() {
	os.Exit(run())
}

func run() int {
	ci := flag.Bool("ci", false, "the CI-sized soak (60 runs, every fault kind, fewer of each)")
	cfg := soak.Config{}
	flag.IntVar(&cfg.Runs, "runs", 1000, "flow runs")
	flag.Float64Var(&cfg.Rate, "rate", 2, "flow runs created per second")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "seed of the workload order and fault draws (0: from the clock)")
	flag.BoolVar(&cfg.Postgres, "postgres", false, "run the Prefect server on a throwaway PostgreSQL cluster (recommended above ~100 runs)")
	flag.StringVar(&cfg.DatabaseURL, "database-url", "", "run the Prefect server on this database (postgresql+asyncpg://...)")
	flag.StringVar(&cfg.OutDir, "out", "soak-out", "directory for logs and the report")
	flag.StringVar(&cfg.RepoDir, "repo", "", "the aciworker module directory (default: the enclosing module)")
	flag.DurationVar(&cfg.Settle, "settle", 5*time.Minute, "how long runs may take to finish and be cleaned up after the last is created")
	flag.IntVar(&cfg.Limit, "limit", 0, "the worker's --limit (0: none)")
	flag.DurationVar(&cfg.SleepMin, "sleep-min", time.Second, "shortest time a flow stays Running")
	flag.DurationVar(&cfg.SleepMax, "sleep-max", 6*time.Second, "longest time a flow stays Running")
	flag.IntVar(&cfg.WorkerKills, "worker-kills", 3, "SIGKILLs of the worker (-1: none)")
	flag.IntVar(&cfg.ServerRestarts, "server-restarts", 1, "Prefect server restarts (-1: none)")
	flag.IntVar(&cfg.Bursts429, "bursts-429", 0, "bursts of 429 (0: one per 100 runs, at least 2)")
	flag.Float64Var(&cfg.ARM5xxShare, "arm-5xx", 0.05, "share of ARM requests failed with a 5xx")
	flag.Float64Var(&cfg.ProvisionShare, "provisioning-failures", 0.02, "share of runs whose container group fails provisioning")
	flag.Float64Var(&cfg.KillShare, "container-kills", 0.03, "share of runs whose container is killed mid-run")
	flag.BoolVar(&cfg.DebugWorker, "debug-worker", false, "run the worker with --debug (more output searched for secrets)")
	verbose := flag.Bool("v", false, "log progress")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "acisoak: unexpected arguments %q\n", flag.Args())
		return 2
	}
	if *ci {
		c := soak.CIConfig()
		c.OutDir, c.RepoDir, c.Seed, c.Postgres, c.DatabaseURL, c.DebugWorker = cfg.OutDir, cfg.RepoDir, cfg.Seed, cfg.Postgres, cfg.DatabaseURL, cfg.DebugWorker
		cfg = c
	}
	if cfg.Runs < 1 || cfg.Rate <= 0 || cfg.SleepMax < cfg.SleepMin {
		fmt.Fprintf(os.Stderr, "acisoak: need --runs >= 1 (got %d), --rate > 0 (got %g) and --sleep-max >= --sleep-min (got %s < %s)\n",
			cfg.Runs, cfg.Rate, cfg.SleepMax, cfg.SleepMin)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acisoak:", err)
		return 1
	}
	rep.WriteText(os.Stdout)
	if f, err := os.Create(rep.OutDir + "/report.txt"); err == nil {
		rep.WriteText(f)
		f.Close()
	}
	if !rep.Passed() {
		return 1
	}
	return 0
}
