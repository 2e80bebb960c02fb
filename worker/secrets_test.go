package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
)

const authString = "aciworker-user:auth-s3cret-9d1f"

var authServer = prefecttest.Extra(prefecttest.Options{AuthString: authString})

// Issue 9 end to end: the API auth string, custom headers and a user-marked
// secret reach the container (it prints their hashes) but no surface holds
// them: deployment GET, exportTemplate, group GET and list, the emulator's
// request log, the worker's output, the flow run's logs; and no deployment
// record is left.
func TestSecretsNeverRest(t *testing.T) {
	t.Parallel()
	s := authServer.Get(t)
	const header = `{"X-Team-Token": "hdr-s3cret-4c2a"}`
	const userSecret = "user-s3cret-77e0"
	secrets := map[string]string{"PREFECT_API_AUTH_STRING": authString, "PREFECT_CLIENT_CUSTOM_HEADERS": header, "MY_CONFIDENTIAL": userSecret}
	b := newBed(t, s)
	b.env = append(b.env, "PREFECT_CLIENT_CUSTOM_HEADERS="+header)
	b.createPool(nil)
	jv := b.jobVars(standinCommand("-sleep", "4s", "-hash-env", "PREFECT_API_AUTH_STRING,PREFECT_CLIENT_CUSTOM_HEADERS,MY_CONFIDENTIAL"))
	jv["env"] = map[string]any{"MY_CONFIDENTIAL": userSecret}
	jv["secret_env"] = []any{"MY_CONFIDENTIAL"}
	jv["stream_output"] = true
	dep := b.deploy("secretive", t.TempDir(), "flows.py:x", jv)
	id := b.runDeployment(dep, nil)
	_, out, _ := b.startWorker()
	group := b.waitRunning(id, 2*time.Minute)

	// While it runs: every Azure read surface.
	es := b.emu.Settings()
	base := b.emu.URL() + "/subscriptions/" + es.SubscriptionID + "/resourceGroups/" + es.ResourceGroup + "/providers/"
	surfaces := map[string]string{
		"deployment GET": b.armCall(t, "GET", base+"Microsoft.Resources/deployments/prefect-"+group+"?api-version=2025-04-01"),
		"exportTemplate": b.armCall(t, "POST", base+"Microsoft.Resources/deployments/prefect-"+group+"/exportTemplate?api-version=2025-04-01"),
		"group GET":      b.armCall(t, "GET", base+"Microsoft.ContainerInstance/containerGroups/"+group+"?api-version=2023-05-01"),
		"group list":     b.armCall(t, "GET", base+"Microsoft.ContainerInstance/containerGroups?api-version=2023-05-01"),
	}
	if !strings.Contains(surfaces["exportTemplate"], "secureValue") {
		t.Errorf("exportTemplate does not look like the deployed template:\n%s", surfaces["exportTemplate"])
	}
	if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
		t.Fatalf("state %s (%s), want COMPLETED (the container must reach the auth-protected API)", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
	log, _ := json.Marshal(b.emu.RequestLog())
	surfaces["emulator request log"] = string(log)
	surfaces["flow run logs"] = b.logs(id)
	waitFor(t, 30*time.Second, "the container's hashes in the worker's output", func() (bool, error) {
		for name, v := range secrets {
			sum := sha256.Sum256([]byte(v))
			if !strings.Contains(out.String(), "sha256 "+name+"="+hex.EncodeToString(sum[:])) {
				return false, nil
			}
		}
		return true, nil
	})
	surfaces["worker output"] = out.String()
	for where, text := range surfaces {
		for name, v := range secrets {
			if strings.Contains(text, v) {
				t.Errorf("%s holds the value of %s", where, name)
			}
		}
		if strings.Contains(text, "auth-s3cret") || strings.Contains(text, "hdr-s3cret") {
			t.Errorf("%s holds part of a secret", where)
		}
	}
}

// armCall reads an ARM URL with a token of the emulator's service principal.
func (b *bed) armCall(t *testing.T, method, url string) string {
	t.Helper()
	cred, err := b.settings().Credential()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := b.emu.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, body)
	}
	return string(body)
}
