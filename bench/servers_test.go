package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aciworker/aciworker/internal/pyvenv"
)

// TestServerPoolEnvIsReadByPrefect checks that the pool settings the bench
// gives its Prefect server are names Prefect itself reads: a misspelt
// PREFECT_ variable is ignored without a word, and the server would run
// with SQLAlchemy's 5 + 10 connections again.
func TestServerPoolEnvIsReadByPrefect(t *testing.T) {
	t.Parallel()
	venv := pyvenv.Require(t)
	cmd := exec.Command(filepath.Join(venv, "bin", "python"), "-c",
		"from prefect.settings import get_current_settings as s\n"+
			"a = s().server.database.sqlalchemy\n"+
			"print(a.pool_size, a.max_overflow)")
	cmd.Env = append(baseEnv(), serverPoolEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reading Prefect's settings: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), fmt.Sprintf("%d %d", serverPoolSize, serverPoolOverflow); got != want {
		t.Fatalf("Prefect reads pool_size, max_overflow = %q, want %q", got, want)
	}
}
