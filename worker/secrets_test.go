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

// Issue 16 items 1-3 end to end, from a worker environment as a shared
// docker-compose .env has it (the server's auth string equal to the
// client's, the server's database URL with its password, the worker's Azure
// secret): a run whose env reads a Secret block and a webhook block's
// SecretStr url completes with both values in the container and nowhere
// readable; a run reading {{ $AZURE_CLIENT_SECRET }} ends Crashed naming it
// and creates nothing.
func TestHostileEnvironmentAndDeployment(t *testing.T) {
	t.Parallel()
	s := authServer.Get(t)
	b := newBed(t, s)
	es := b.emu.Settings()
	dbpw, blk, hook := "dbpw-"+randomSuffix()+randomSuffix(), "blk-"+randomSuffix()+randomSuffix(), "https://hooks.example/t-"+randomSuffix()+randomSuffix()
	b.env = append(b.env, "PREFECT_SERVER_API_AUTH_STRING="+authString,
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect:"+dbpw+"@db.internal:5432/prefect",
		"AZURE_CLIENT_SECRET="+es.ClientSecret)
	ctx := ctxFor(t, 3*time.Minute)
	secretName, hookName := "dbpass-"+randomSuffix(), "hook-"+randomSuffix()
	if _, err := b.pf.CreateBlockDocument(ctx, "secret", secretName, map[string]any{"value": blk}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pf.CreateBlockDocument(ctx, "webhook", hookName, map[string]any{"method": "POST", "url": hook, "headers": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	b.createPool(nil)
	jv := b.jobVars(standinCommand("-hash-env", "DB_PASS,HOOK_URL"))
	jv["env"] = map[string]any{
		"DB_PASS":  "{{ prefect.blocks.secret." + secretName + " }}",
		"HOOK_URL": "{{ prefect.blocks.webhook." + hookName + ".url }}",
	}
	jv["keep_container_group"] = true
	jv["stream_output"] = true
	dep := b.deploy("hostile", t.TempDir(), "flows.py:x", jv)
	ok := b.runDeployment(dep, nil)
	bad := b.runDeployment(dep, map[string]any{"env": map[string]any{"LEAK": "{{ $AZURE_CLIENT_SECRET }}"}})
	_, out, _ := b.startWorker()

	if fr := b.waitFinal(ok, 2*time.Minute); fr.StateType != prefect.StateCompleted {
		t.Fatalf("with server settings in the worker's environment the run ended %s (%s), want COMPLETED", fr.StateType, stateMessage(fr))
	}
	fr := b.waitFinal(bad, 2*time.Minute)
	if fr.StateType != prefect.StateCrashed || !strings.Contains(stateMessage(fr), "AZURE_CLIENT_SECRET") {
		t.Errorf("a run reading {{ $AZURE_CLIENT_SECRET }} ended %s (%s), want CRASHED naming the variable", fr.StateType, stateMessage(fr))
	}
	waitFor(t, 30*time.Second, "the container's hashes in the worker's output", func() (bool, error) {
		for name, v := range map[string]string{"DB_PASS": blk, "HOOK_URL": hook} {
			sum := sha256.Sum256([]byte(v))
			if !strings.Contains(out.String(), "sha256 "+name+"="+hex.EncodeToString(sum[:])) {
				return false, nil
			}
		}
		return true, nil
	})
	base := b.emu.URL() + "/subscriptions/" + es.SubscriptionID + "/resourceGroups/" + es.ResourceGroup + "/providers/Microsoft.ContainerInstance/containerGroups"
	list := b.armCall(t, "GET", base+"?api-version=2023-05-01")
	var groups struct{ Value []struct{ Name string } }
	if err := json.Unmarshal([]byte(list), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups.Value) != 1 {
		t.Fatalf("%d container groups, want the kept one only (the refused run creates nothing): %s", len(groups.Value), list)
	}
	surfaces := map[string]string{
		"group list": list, "group GET": b.armCall(t, "GET", base+"/"+groups.Value[0].Name+"?api-version=2023-05-01"),
		"worker output": out.String(), "logs of the run": b.logs(ok), "logs of the refused run": b.logs(bad),
		"refusal": stateMessage(fr),
	}
	for where, text := range surfaces {
		for name, v := range map[string]string{"Secret block": blk, "webhook url": hook, "database password": dbpw, "Azure secret": es.ClientSecret, "auth string": authString} {
			if strings.Contains(text, v) {
				t.Errorf("%s holds the %s", where, name)
			}
		}
	}
}
