package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/aciworker/aciworker/prefect"
)

// collect gathers the evidence once every worker has stopped, and checks it.
func (s *soak) collect(ctx context.Context, rep *Report) error {
	runs, err := s.allRuns(ctx)
	if err != nil {
		return err
	}
	itemOf := map[string]Item{}
	for item, id := range s.depIDs {
		itemOf[id] = item
	}
	flowNames := map[string]string{}
	for item, sp := range s.specs {
		flowNames[s.depIDs[item]] = sp.FlowName
	}
	s.mu.Lock()
	ev := Evidence{
		Created:      s.created,
		GroupCreates: s.ledger.Creates,
		LedgerGaps:   s.ledger.Gaps,
		Unscanned:    len(s.unscanned),
		SecretHits:   append([]SecretHit(nil), s.secretHits...),
		WorkerExits:  append([]string(nil), s.workerExits...),
	}
	killed := s.killed
	s.mu.Unlock()
	var ids []string
	for _, r := range runs {
		res := RunResult{ID: r.ID, Name: r.Name, FlowName: flowNames[r.DeploymentID], StateType: r.StateType,
			StateName: r.StateName, Killed: killed[r.ID]}
		item := itemOf[r.DeploymentID]
		res.Kind, res.Variant = item.Kind, item.Variant
		if r.State != nil {
			res.Message = r.State.Message
		}
		ev.Runs = append(ev.Runs, res)
		ids = append(ids, r.ID)
		ev.SecretHits = append(ev.SecretHits, s.scan.Scan("flow run state message", r.ID, []byte(res.Message))...)
	}
	hits, err := s.scanLogs(ctx, ids)
	if err != nil {
		return err
	}
	ev.SecretHits = append(ev.SecretHits, hits...)
	if ev.ContainerStarts, err = readMarks(filepath.Join(s.out, "container-starts.txt")); err != nil {
		return err
	}
	if ev.GroupsLeft, ev.DeploymentsLeft, err = s.leftovers(ctx); err != nil {
		return err
	}
	ev.Kept = s.keptGroups()
	for _, f := range s.worker.Outs {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		ev.SecretHits = append(ev.SecretHits, s.scan.Scan("worker output", filepath.Base(f), data)...)
	}
	if data, err := os.ReadFile(filepath.Join(s.out, "logs", "emulator.log")); err == nil {
		ev.SecretHits = append(ev.SecretHits, s.scan.Scan("emulator log", "emulator.log", data)...)
	}
	rep.Runs, rep.Created = ev.Runs, ev.Created
	if data, err := json.MarshalIndent(ev.Runs, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(s.out, "runs.json"), data, 0o644)
	}
	rep.Findings = Check(ev)
	rep.Counters = s.emu.Counters()
	s.mu.Lock()
	rep.Faults = s.faults
	rep.Restarts = s.restarts
	rep.ReadBack = ReadBack{Scanned: len(s.scanned), Vanished: s.vanished, Unscanned: len(s.unscanned)}
	s.mu.Unlock()
	for _, r := range ev.Runs {
		if r.Kind == KindBadType || r.Kind == KindEmptyImage || r.Kind == KindBadTemplate {
			rep.Faults.BadInputRuns++
		}
	}
	return nil
}

// scanLogs reads every log of the runs from Prefect (POST /logs/filter)
// and searches them for secrets.
func (s *soak) scanLogs(ctx context.Context, ids []string) ([]SecretHit, error) {
	var hits []SecretHit
	for start := 0; start < len(ids); start += 50 {
		batch := ids[start:min(start+50, len(ids))]
		byRun := map[string]*strings.Builder{}
		for off := 0; ; off += 200 {
			logs, err := s.pf.ReadLogs(ctx, prefect.LogFilter{FlowRunIDs: batch, Limit: 200, Offset: off})
			if err != nil {
				return nil, err
			}
			for _, l := range logs {
				b := byRun[l.FlowRunID]
				if b == nil {
					b = &strings.Builder{}
					byRun[l.FlowRunID] = b
				}
				b.WriteString(l.Name)
				b.WriteByte(' ')
				b.WriteString(l.Message)
				b.WriteByte('\n')
			}
			if len(logs) < 200 {
				break
			}
		}
		for id, b := range byRun {
			hits = append(hits, s.scan.Scan("Prefect logs", id, []byte(b.String()))...)
		}
	}
	return hits, nil
}

// readMarks counts the stand-in's "start <flow run id>" lines per run.
func readMarks(path string) (map[string]int, error) {
	out := map[string]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "start" {
			out[strings.ToLower(fields[1])]++
		}
	}
	return out, sc.Err()
}
