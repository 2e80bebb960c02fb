package emulator_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The built command prints settings that a plain HTTPS client, trusting
// only the printed CA file, can use.
func TestEmulatorCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "aciworker")
	build := exec.Command("go", "build", "-o", bin, "github.com/aciworker/aciworker/cmd/aciworker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "emulator", "--addr", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"), "--lro-poll", "20ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})

	env := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	timeout := time.After(30 * time.Second)
	for env["AZURE_RESOURCE_GROUP"] == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("emulator exited early: %s", stderr.String())
			}
			k, v, _ := strings.Cut(l, "=")
			env[k] = v
		case <-timeout:
			t.Fatalf("no settings printed; stderr: %s", stderr.String())
		}
	}
	for _, k := range []string{"ACIWORKER_ARM_ENDPOINT", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_SUBSCRIPTION_ID"} {
		if env[k] == "" {
			t.Fatalf("%s not printed: %v", k, env)
		}
	}
	pem, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("SSL_CERT_FILE holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.PostForm(strings.TrimSuffix(env["AZURE_AUTHORITY_HOST"], "/")+"/"+env["AZURE_TENANT_ID"]+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {env["AZURE_CLIENT_ID"]},
		"client_secret": {env["AZURE_CLIENT_SECRET"]}, "scope": {"https://management.azure.com/.default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v %d", err, resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", env["ACIWORKER_ARM_ENDPOINT"]+"/subscriptions/"+env["AZURE_SUBSCRIPTION_ID"]+"/resourceGroups/"+env["AZURE_RESOURCE_GROUP"]+"/providers/Microsoft.ContainerInstance/containerGroups?api-version=2023-05-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Value []any `json:"value"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || list.Value == nil {
		t.Fatalf("list: %d %v", resp.StatusCode, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("emulator did not exit after SIGTERM")
	}
}
