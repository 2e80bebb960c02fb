package soak

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator"
)

const (
	idA = "0b5e7f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idB = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
)

func okRun(id string) RunResult {
	return RunResult{ID: id, Kind: KindNormal, StateType: "COMPLETED", StateName: "Completed"}
}

func TestCheck(t *testing.T) {
	crashed := func(id, msg string) RunResult {
		return RunResult{ID: id, Kind: KindNormal, StateType: "CRASHED", Message: msg}
	}
	tests := []struct {
		name string
		ev   Evidence
		want []string // "check run" of each finding, in order
	}{
		{"all good", Evidence{Runs: []RunResult{okRun(idA), okRun(idB)}, Created: 2,
			GroupCreates: map[string]int{idA: 1, idB: 1}, ContainerStarts: map[string]int{idA: 1}}, nil},
		{"missing runs", Evidence{Runs: []RunResult{okRun(idA)}, Created: 2}, []string{"terminal "}},
		{"not terminal", Evidence{Runs: []RunResult{{ID: idA, StateType: "PENDING"}, {ID: idB, StateType: "RUNNING"}}},
			[]string{"terminal " + idA, "terminal " + idB}},
		{"created twice by PUTs", Evidence{Runs: []RunResult{okRun(idA)}, GroupCreates: map[string]int{idA: 2}},
			[]string{"created-once " + idA}},
		{"container started twice", Evidence{Runs: []RunResult{okRun(idA)}, ContainerStarts: map[string]int{idA: 2}},
			[]string{"created-once " + idA}},
		{"crash without reason", Evidence{Runs: []RunResult{crashed(idA, ""), crashed(idB, "Crashed")}},
			[]string{"crash-reason " + idA, "crash-reason " + idB}},
		{"crash with reason", Evidence{Runs: []RunResult{crashed(idA, "Flow run infrastructure exited with non-zero status code 1.")}}, nil},
		{"crash on a transient fault", Evidence{Runs: []RunResult{crashed(idA, "deploy failed: InternalServerError: "+InjectedMarker+" on deployments.put")}},
			[]string{"crash-reason " + idA}},
		{"killed but no exit code", Evidence{Runs: []RunResult{{ID: idA, Kind: KindNormal, StateType: "CRASHED", Killed: true, Message: "something went wrong somewhere"}}},
			[]string{"crash-reason " + idA}},
		{"killed with exit code", Evidence{Runs: []RunResult{{ID: idA, Kind: KindNormal, StateType: "CRASHED", Killed: true, Message: "exited with non-zero status code 137."}}}, nil},
		{"bad type completed", Evidence{Runs: []RunResult{{ID: idA, Kind: KindBadType, Variant: 1, StateType: "COMPLETED"}}},
			[]string{"bad-input " + idA}},
		{"bad type crash names no field", Evidence{Runs: []RunResult{{ID: idA, Kind: KindBadType, Variant: 0, StateType: "CRASHED", Message: "the job configuration is invalid"}}},
			[]string{"bad-input " + idA}},
		{"bad type crash names the field", Evidence{Runs: []RunResult{{ID: idA, Kind: KindBadType, Variant: 0, StateType: "CRASHED", Message: `job configuration field "cpu": must be a number`}}}, nil},
		{"empty image completed", Evidence{Runs: []RunResult{{ID: idA, Kind: KindEmptyImage, StateType: "COMPLETED"}}}, []string{"bad-input " + idA}},
		{"failing flow completed", Evidence{Runs: []RunResult{{ID: idA, Kind: KindFlowFails, StateType: "COMPLETED"}}}, []string{"bad-input " + idA}},
		{"missing variable left in the command", Evidence{Runs: []RunResult{{ID: idA, Kind: KindBadTemplate, Variant: 0, StateType: "CRASHED",
			Message: "Flow run infrastructure exited with non-zero status code 3. Process exited with an unexpected status code."}}}, []string{"bad-input " + idA}},
		{"missing block ignored", Evidence{Runs: []RunResult{{ID: idA, Kind: KindBadTemplate, Variant: 2, StateType: "COMPLETED"}}}, []string{"bad-input " + idA}},
		{"leftovers", Evidence{
			GroupsLeft:      []string{"soak-flow-" + idA, "soak-keep-group-" + idB},
			DeploymentsLeft: []string{"prefect-soak-flow-" + idA, "prefect-soak-keep-group-" + idB, "someone-elses"},
			Kept:            map[string]bool{"soak-keep-group-" + idB: true},
		}, []string{"leftovers soak-flow-" + idA, "leftovers prefect-soak-flow-" + idA}},
		{"secrets", Evidence{SecretHits: []SecretHit{{Surface: "worker output", Where: "worker-1.err", Secret: "auth string", Count: 2}}},
			[]string{"secrets worker-1.err"}},
		{"unreadable deployments", Evidence{Unscanned: 3}, []string{"secrets "}},
		{"ledger gap", Evidence{LedgerGaps: 1}, []string{"created-once "}},
		{"worker died", Evidence{WorkerExits: []string{"worker exited on its own"}}, []string{"worker "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.ev)
			var keys []string
			for _, f := range got {
				keys = append(keys, f.Check+" "+f.Run)
			}
			if strings.Join(keys, "|") != strings.Join(tc.want, "|") {
				t.Errorf("findings:\n%s\nwant checks %q", findingsText(got), tc.want)
			}
		})
	}
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

func TestSpellingsAndScanner(t *testing.T) {
	auth := "soak:auth-0123456789"
	sp := Spellings("auth string", auth)
	names := map[string]string{}
	for _, s := range sp {
		names[s.Name] = s.Value
	}
	if names["auth string"] != auth || names["auth string (password part)"] != "auth-0123456789" ||
		names["auth string (base64)"] != base64.StdEncoding.EncodeToString([]byte(auth)) {
		t.Fatalf("spellings = %+v", sp)
	}
	if got := Spellings("short", "abcdef"); len(got) != 1 || got[0].Name != "short (base64)" {
		t.Errorf("a value under the minimum length must not be searched for itself: %+v", got)
	}
	sc := NewScanner(sp, Spellings("registry password", "soak-regpw-abcdef"))
	header := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(auth))
	hits := sc.Scan("worker output", "w.err", []byte("x "+header+" y soak-regpw-abcdef soak-regpw-abcdef"))
	got := map[string]int{}
	for _, h := range hits {
		if h.Surface != "worker output" || h.Where != "w.err" {
			t.Errorf("hit %+v lost its surface", h)
		}
		got[h.Secret] = h.Count
	}
	if got["auth string (base64)"] != 1 || got["registry password"] != 2 || got["auth string"] != 0 {
		t.Errorf("hits = %v", got)
	}
	if hits := sc.Scan("s", "w", []byte("nothing secret here: soak:auth-012345678")); len(hits) != 0 {
		t.Errorf("a prefix of a secret matched: %+v", hits)
	}
}

func rec(t0 time.Time, i int, method, op, path string, status int) emulator.RequestRecord {
	return emulator.RequestRecord{Time: t0.Add(time.Duration(i) * time.Millisecond), Method: method, Op: op, Path: path, Status: status}
}

func TestLedger(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dep := func(name string) string {
		return "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/" + name
	}
	records := []emulator.RequestRecord{
		rec(t0, 0, "PUT", "deployments.put", dep("prefect-soak-flow-"+idA), 201),
		rec(t0, 1, "PUT", "deployments.put", dep("prefect-soak-flow-"+idB), 503), // injected fault: not a creation
		rec(t0, 2, "GET", "deployments.get", dep("prefect-soak-flow-"+idA), 200),
		rec(t0, 3, "PUT", "deployments.put", dep("prefect-soak-flow-"+idB), 201),
		rec(t0, 4, "PUT", "deployments.put", dep("someone-else-"+idA), 201), // not a worker's record
		rec(t0, 5, "PUT", "containerGroups.put", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/direct-"+idA, 200),
	}
	l := NewLedger()
	l.Add(records[:3])
	l.Add(records[:4]) // overlapping snapshots count each record once
	l.Add(records)
	if l.Creates[idA] != 2 || l.Creates[idB] != 1 || l.Gaps != 0 || l.Requests != 6 {
		t.Errorf("creates=%v gaps=%d requests=%d", l.Creates, l.Gaps, l.Requests)
	}
	if strings.Join(l.Deployments, ",") != "prefect-soak-flow-"+idA+",prefect-soak-flow-"+idB {
		t.Errorf("deployments = %v", l.Deployments)
	}
	// The ring overwrote the last record seen: newer records still count,
	// and the gap is reported.
	later := []emulator.RequestRecord{
		rec(t0, 7, "GET", "containerGroups.get", "/x", 200),
		rec(t0, 8, "PUT", "deployments.put", dep("prefect-f-"+idB), 200),
	}
	l.Add(later)
	if l.Gaps != 1 || l.Creates[idB] != 2 {
		t.Errorf("after a gap: creates=%v gaps=%d", l.Creates, l.Gaps)
	}
	l.Add(later)
	if l.Creates[idB] != 2 || l.Gaps != 1 {
		t.Errorf("a repeated snapshot counted again: creates=%v gaps=%d", l.Creates, l.Gaps)
	}
}

func TestFlowRunOfGroup(t *testing.T) {
	for _, tc := range []struct {
		group, id string
		ok        bool
	}{
		{"soak-flow-" + idA, idA, true},
		{"flow-" + strings.ToUpper(idA), idA, true},
		{idA, idA, true},
		{"soak-flow-not-a-uuid-at-all-0000000000000", "", false},
		{"short", "", false},
	} {
		id, ok := FlowRunOfGroup(tc.group)
		if id != tc.id || ok != tc.ok {
			t.Errorf("FlowRunOfGroup(%q) = %q, %v; want %q, %v", tc.group, id, ok, tc.id, tc.ok)
		}
	}
}

func TestPlan(t *testing.T) {
	mix := DefaultMix()
	p := Plan(60, mix, 7)
	if len(p) != 60 {
		t.Fatalf("len = %d", len(p))
	}
	count := map[Kind]int{}
	for _, it := range p {
		count[it.Kind]++
		if it.Variant < 0 || it.Variant >= variants[it.Kind] {
			t.Errorf("variant %d out of range for %s", it.Variant, it.Kind)
		}
	}
	for k := range mix {
		if count[k] < 1 {
			t.Errorf("kind %s missing from a 60-run plan", k)
		}
	}
	if count[KindBadType] != 3 {
		t.Errorf("bad-type runs = %d, want all 3 variants once", count[KindBadType])
	}
	big := Plan(1000, mix, 7)
	bc := map[Kind]int{}
	for _, it := range big {
		bc[it.Kind]++
	}
	if bc[KindRegistry] != 50 || bc[KindKeepGroup] != 10 || bc[KindNormal] != 1000-40-30-50-10-30-10-30 {
		t.Errorf("1000-run plan counts = %v", bc)
	}
	again := Plan(60, mix, 7)
	for i := range p {
		if p[i] != again[i] {
			t.Fatalf("plan is not deterministic for a seed")
		}
	}
	other := Plan(60, mix, 8)
	same := true
	for i := range p {
		same = same && p[i] == other[i]
	}
	if same {
		t.Errorf("different seeds gave the same order")
	}
}

func TestMilestones(t *testing.T) {
	if got := Milestones(1000, 3); len(got) != 3 || got[0] != 250 || got[1] != 500 || got[2] != 750 {
		t.Errorf("Milestones(1000, 3) = %v", got)
	}
	if got := Milestones(60, 0); len(got) != 0 {
		t.Errorf("Milestones(60, 0) = %v", got)
	}
}

func TestRateInjector(t *testing.T) {
	inj := newRateInjector(0.05)
	rnd := rand.New(rand.NewPCG(1, 2))
	totals := map[string]int{}
	faults := map[string]int{}
	for step := 1; step <= 100; step++ {
		totals["containerGroups.get"] += 30
		totals["deployments.put"] += 10
		totals["token"] += 5 // Entra: never faulted
		for _, op := range inj.step(totals, rnd) {
			faults[op]++
		}
	}
	arm := 100 * 40
	n := faults["containerGroups.get"] + faults["deployments.put"]
	if n != arm*5/100 {
		t.Errorf("faults = %d for %d ARM requests, want 5%%", n, arm)
	}
	if faults["token"] != 0 {
		t.Errorf("Entra token requests were faulted")
	}
	if faults["containerGroups.get"] <= faults["deployments.put"] {
		t.Errorf("faults not drawn by frequency: %v", faults)
	}
	if got := newRateInjector(0).step(totals, rnd); got != nil {
		t.Errorf("share 0 injected %v", got)
	}
}

func TestReadMarks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "marks")
	if m, err := readMarks(p); err != nil || len(m) != 0 {
		t.Fatalf("missing file: %v %v", m, err)
	}
	data := "start " + idA + " 1\nstart " + strings.ToUpper(idB) + " 2\nstart " + idA + " 3\ngarbage\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readMarks(p)
	if err != nil || m[idA] != 2 || m[idB] != 1 || len(m) != 2 {
		t.Errorf("marks = %v, %v", m, err)
	}
}

func TestReportText(t *testing.T) {
	r := &Report{Created: 3, Runs: []RunResult{okRun(idA),
		{ID: idB, Kind: KindBadType, StateType: "CRASHED", Message: `job configuration field "cpu": must be a number, got "abc"`},
		{ID: "c", Kind: KindNormal, StateType: "PENDING"}},
		Database: "sqlite", Duration: 95 * time.Second}
	r.Findings = Check(Evidence{Runs: r.Runs, Created: 3})
	var b bytes.Buffer
	r.WriteText(&b)
	out := b.String()
	for _, want := range []string{"FAIL (1 findings)", "bad-type", "[terminal] c: not terminal: PENDING", `field "cpu"`, "1m35s"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if r.Passed() {
		t.Errorf("a report with findings passed")
	}
	got := crashReasons([]RunResult{
		{StateType: "CRASHED", Message: "container group soak-flow-" + idA + ": deployment prefect-soak-flow-" + idA + " failed"},
		{StateType: "CRASHED", Message: "container group ünï-" + idB + ": deployment prefect-ünï-" + idB + " failed"},
		{StateType: "COMPLETED", Message: "ignored"},
	})
	if len(got) != 1 || got[0].n != 2 || got[0].msg != "container group <name>: deployment <name> failed" {
		t.Errorf("crashReasons = %+v", got)
	}
}
