package worker

import (
	"strings"
	"testing"
)

// Expected values come from python-slugify as prefect-azure calls it
// (max_length 19 for a UUID run id).
func TestSlugify(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello", "hello"},
		{"Hello World!", "hello-world"},
		{"it's a flow", "it-s-a-flow"},
		{"my_flow_name_is_very_long_indeed_yes", "my-flow-name-is-ver"},
		{"Café Déjà vu", "cafe-deja-vu"},
		{"1,000 runs", "1000-runs"},
		{"---a--b---", "a-b"},
		{strings.Repeat("a", 40), strings.Repeat("a", 19)},
		{"x y z-", "x-y-z"},
		{"ÆØÅ straße", "aeoa-strasse"},
		{"abcdefghijklmnopqr-stu", "abcdefghijklmnopqr"}, // truncation strips the dash
		{"", ""},
	} {
		if got := slugify(tc.in, 19); got != tc.want {
			t.Errorf("slugify(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestGroupName(t *testing.T) {
	id := "0b4c7a52-9d3e-4f1a-8c2b-6e5d4f3a2b1c"
	for _, tc := range []struct{ flow, want string }{
		{"hello", "hello-" + id},
		{"My ETL Flow (daily)", "my-etl-flow-daily-" + id},
		{"中文", "flow-" + id}, // nothing transliterable: guarded, never "-<id>"
	} {
		got := GroupName(tc.flow, id)
		if got != tc.want {
			t.Errorf("GroupName(%q) = %q, want %q", tc.flow, got, tc.want)
		}
		if len(DeploymentName(got)) > 64 {
			t.Errorf("deployment name %q is longer than 64", DeploymentName(got))
		}
	}
}

func TestParsePID(t *testing.T) {
	id := "0b4c7a52-9d3e-4f1a-8c2b-6e5d4f3a2b1c"
	group := "hello-" + id
	for _, tc := range []struct {
		pid, wantGroup, wantErr string
	}{
		{id + ":" + group, group, ""},
		{group, "", "expected 'flow_run_id:container_group_name'"},
		{id + ":" + group + ":x", "", "expected"},
		{"other:" + group, "", "names flow run"},
		{id + ":Bad_Name", "", "only lowercase"},
		{id + ":", "", "empty"},
	} {
		g, err := ParsePID(tc.pid, id)
		if tc.wantErr == "" {
			if err != nil || g != tc.wantGroup {
				t.Errorf("ParsePID(%q) = %q, %v; want %q", tc.pid, g, err, tc.wantGroup)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParsePID(%q) error = %v, want one containing %q", tc.pid, err, tc.wantErr)
		}
	}
	if PID(id, group) != id+":"+group {
		t.Errorf("PID = %q", PID(id, group))
	}
}

func TestCrashMessage(t *testing.T) {
	for _, tc := range []struct {
		code   int64
		reason string
		want   string
	}{
		{1, "", "Flow run infrastructure exited with non-zero status code 1. Process exited with a general error."},
		{137, "OOMKilled", "Flow run infrastructure exited with non-zero status code 137. Process was killed, likely due to an out-of-memory (OOM) condition. Azure reports: OOMKilled"},
		{3, "", "Flow run infrastructure exited with non-zero status code 3. Process exited with an unexpected status code."},
		{-1, "", "Flow run infrastructure exited with non-zero status code -1. Process exited with an unexpected status code."},
	} {
		if got := crashMessage(tc.code, tc.reason); got != tc.want {
			t.Errorf("crashMessage(%d, %q) =\n %q\nwant\n %q", tc.code, tc.reason, got, tc.want)
		}
	}
	if explainExit(127).Resolution == "" {
		t.Error("127 has no resolution")
	}
}
