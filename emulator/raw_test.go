package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/aciworker/aciworker/emulator"
)

// raw is a plain HTTPS client for wire-level checks.
type raw struct {
	t     testing.TB
	e     *emulator.Emulator
	token string
}

func newRaw(t testing.TB, s *sdk) *raw {
	t.Helper()
	tok, err := s.cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
	if err != nil {
		t.Fatalf("get token: %v", err)
	}
	return &raw{t: t, e: s.emu, token: tok.Token}
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

func (r rawResp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func (r rawResp) code() string {
	var m struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &m)
	return m.Error.Code
}

func (c *raw) do(method, path string, body any, header ...string) rawResp {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.e.URL()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.e.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *raw) token2(form url.Values, tenant string) rawResp {
	c.t.Helper()
	resp, err := c.e.Client().PostForm(c.e.URL()+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func groupsPath(set emulator.Settings, name string) string {
	p := "/subscriptions/" + set.SubscriptionID + "/resourceGroups/" + set.ResourceGroup + "/providers/Microsoft.ContainerInstance/containerGroups"
	if name != "" {
		p += "/" + name
	}
	return p
}

func mustNotContain(t testing.TB, where string, data []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(string(data), s) {
			t.Errorf("%s holds the secret %q", where, s)
		}
	}
}
