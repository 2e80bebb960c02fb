package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/pyvenv"
)

// TestTemplateMatchesPrefectAzure compares `aciworker template` with what the
// real Prefect CLI prints for the worker type when prefect-azure is
// installed. There is no intended difference.
func TestTemplateMatchesPrefectAzure(t *testing.T) {
	t.Parallel()
	venv := pyvenv.Require(t)
	var out bytes.Buffer
	root := newRootCmd(processDeps())
	root.SetOut(&out)
	root.SetArgs([]string{"template"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	// Numbers are compared as spelled, so that a float default (1.0) is not
	// taken for an int (1): Prefect templating stringifies them differently.
	decode := func(b []byte, v any) error {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		return dec.Decode(v)
	}
	var got any
	if err := decode(out.Bytes(), &got); err != nil {
		t.Fatalf("aciworker template printed invalid JSON: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(venv, "bin", "prefect"),
		"work-pool", "get-default-base-job-template", "--type", "azure-container-instance")
	// The command needs no server (it reads the worker class prefect-azure
	// installs, and works with PREFECT_API_URL unset); a dead API URL makes
	// sure it could not reach one anyway.
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_API_URL=http://127.0.0.1:9/api", "COLUMNS=250")
	pyOut, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("prefect work-pool get-default-base-job-template: %v\n%s", err, stderr)
	}
	var want any
	if err := decode(pyOut, &want); err != nil {
		t.Fatalf("prefect CLI printed invalid JSON: %v\n%s", err, pyOut)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("aciworker template differs from prefect-azure's default template\n got: %s\nwant: %s", out.Bytes(), pyOut)
	}
}
