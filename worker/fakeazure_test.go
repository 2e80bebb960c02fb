package worker

import (
	"net/http"
	"net/http/httptest"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/aciworker/aciworker/aci"
)

// handlerTransport serves the SDK's requests with an http.Handler, in
// memory: unit tests of logic over Azure answers need no server.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) Do(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// fakeAzure is an aci.Client whose requests h answers.
func fakeAzure(t *testing.T, h http.HandlerFunc) *aci.Client {
	t.Helper()
	s := aci.Settings{ARMEndpoint: "https://arm.test", Transport: handlerTransport{h}, MaxRetries: -1}
	c, err := aci.NewClient("00000000-0000-0000-0000-000000000001", &azfake.TokenCredential{}, s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
