package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Worker names as they appear in the table.
const (
	WorkerPython = "prefect-azure"
	WorkerGo     = "aciworker"
)

// publicHosts are the Azure host names prefect-azure's Python clients use
// and cannot be told to change; inside the worker's mount namespace they
// resolve to the emulator on loopback.
var publicHosts = []string{"management.azure.com", "login.microsoftonline.com"}

// hostsFile returns the machine's hosts file with the Azure names mapped to
// loopback, for bind-mounting over /etc/hosts in the Python worker's private
// mount namespace.
func hostsFile(orig string) string {
	var b strings.Builder
	b.WriteString(orig)
	if orig != "" && !strings.HasSuffix(orig, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("# added by the bench: Azure's public names served by the local emulator\n")
	for _, h := range publicHosts {
		b.WriteString("127.0.0.1 " + h + "\n")
	}
	return b.String()
}

// caBundle is certifi's bundle plus the emulator's CA: Python's requests and
// aiohttp trust only the bundle they are given, and the worker must still
// reach anything else it talks to over public TLS.
func caBundle(certifi, emulatorCA []byte) []byte {
	out := append([]byte{}, certifi...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, "# local Azure emulator\n"...)
	return append(out, emulatorCA...)
}

// pythonSetup is what the unmodified prefect-azure worker needs to reach the
// emulator under Azure's public names.
type pythonSetup struct {
	hostsPath  string
	bundlePath string
}

func preparePython(ctx context.Context, venv, dir, emulatorCA string) (*pythonSetup, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(venv, "bin", "python"), "-c", "import certifi; print(certifi.where())").Output()
	if err != nil {
		return nil, fmt.Errorf("locate certifi's bundle in %s: %w", venv, err)
	}
	certifi, err := os.ReadFile(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, fmt.Errorf("read certifi's bundle: %w", err)
	}
	ca, err := os.ReadFile(emulatorCA)
	if err != nil {
		return nil, fmt.Errorf("read the emulator CA: %w", err)
	}
	orig, err := os.ReadFile("/etc/hosts")
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read the hosts file: %w", err)
	}
	s := &pythonSetup{hostsPath: filepath.Join(dir, "hosts"), bundlePath: filepath.Join(dir, "ca-bundle.pem")}
	if err := os.WriteFile(s.hostsPath, []byte(hostsFile(string(orig))), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.bundlePath, caBundle(certifi, ca), 0o644); err != nil {
		return nil, err
	}
	return s, nil
}

// workerCommand builds the command line and environment of one worker.
type workerSpec struct {
	worker     string
	pool       string
	venv       string
	aciworker  string // binary
	apiURL     string
	home       string // PREFECT_HOME for this worker
	emuEnv     map[string]string
	python     *pythonSetup
	extraFlags []string
}

func (s workerSpec) command() (*exec.Cmd, error) {
	env := append(baseEnv(), "PREFECT_API_URL="+s.apiURL, "PREFECT_HOME="+s.home)
	switch s.worker {
	case WorkerPython:
		if s.python == nil {
			return nil, fmt.Errorf("python worker: no hosts file and CA bundle prepared")
		}
		// Only the service-principal variables: prefect-azure then builds
		// DefaultAzureCredential, whose first link reads them, and talks to
		// the public host names, which the hosts file points at loopback.
		for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"} {
			env = append(env, k+"="+s.emuEnv[k])
		}
		env = append(env, "REQUESTS_CA_BUNDLE="+s.python.bundlePath, "SSL_CERT_FILE="+s.python.bundlePath)
		argv := []string{"unshare", "--mount", "--propagation", "private", "--",
			"sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, s.python.hostsPath,
			filepath.Join(s.venv, "bin", "prefect"), "worker", "start", "--pool", s.pool, "--type", "azure-container-instance"}
		argv = append(argv, s.extraFlags...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		return cmd, nil
	case WorkerGo:
		for k, v := range s.emuEnv {
			env = append(env, k+"="+v)
		}
		argv := append([]string{"start", "--pool", s.pool}, s.extraFlags...)
		cmd := exec.Command(s.aciworker, argv...)
		cmd.Env = env
		return cmd, nil
	}
	return nil, fmt.Errorf("unknown worker %q (want %s or %s)", s.worker, WorkerPython, WorkerGo)
}
