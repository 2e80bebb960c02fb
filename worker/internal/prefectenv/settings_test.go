package prefectenv

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/aciworker/aciworker/internal/pyvenv"
)

// The allow rule must list exactly the installed Prefect's client-side
// settings: a server setting here would leak into containers, a client
// setting missing would silently not reach the engine.
func TestClientSettingsMatchPrefect(t *testing.T) {
	t.Parallel()
	venv := pyvenv.Require(t)
	cmd := exec.Command(filepath.Join(venv, "bin", "python"), filepath.Join("testdata", "client_settings.py"))
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var py [][]string
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatal(err)
	}
	key := func(l [][]string) []string {
		var out []string
		for _, names := range l {
			b, _ := json.Marshal(names)
			out = append(out, string(b))
		}
		sort.Strings(out)
		return out
	}
	if got, want := key(clientSettings), key(py); !reflect.DeepEqual(got, want) {
		t.Errorf("clientSettings differ from Prefect's client-side settings\n go: %v\n py: %v", got, want)
	}
}

// Issue 16 item 1: only client-side settings reach the container, by
// canonical name; server settings and their legacy names stay behind.
func TestBaseForwardsClientSettingsOnly(t *testing.T) {
	got := Base([]string{
		"PREFECT_API_URL=http://x/api", "PREFECT_API_AUTH_STRING=admin:pw-1234567",
		"PREFECT_SERVER_API_AUTH_STRING=admin:pw-1234567",
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect:dbpw@db/prefect",
		"PREFECT_API_DATABASE_PASSWORD=dbpw", "PREFECT_UI_API_URL=http://ui/api", "PREFECT_MESSAGING_BROKER=redis",
		"PREFECT_NOT_A_SETTING=1", "PREFECT__FLOW_RUN_ID=x",
		"PREFECT_TEST_MODE=1", "PREFECT_LOGGING_LEVEL=DEBUG", "PREFECT_WORKER_QUERY_SECONDS=2",
		"PREFECT_FLOWS_DEFAULT_RETRIES=3", "PREFECT_FLOW_DEFAULT_RETRIES=4",
	})
	want := map[string]string{
		"PREFECT_API_URL": "http://x/api", "PREFECT_API_AUTH_STRING": "admin:pw-1234567",
		"PREFECT_TESTING_TEST_MODE": "1", "PREFECT_LOGGING_LEVEL": "DEBUG", "PREFECT_WORKER_QUERY_SECONDS": "2",
		"PREFECT_FLOWS_DEFAULT_RETRIES": "3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("base environment %v\nwant %v", got, want)
	}
}
