package emulator

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// authenticateAdmin lets an admin request through only with the emulator's
// client secret as its bearer: whoever has the secret can already do
// anything ARM allows, and nothing else is needed to reach the admin API.
// An ARM access token is not enough, so that a token handed to a client
// (or leaked in its logs) cannot drive the emulator's faults.
func (e *Emulator) authenticateAdmin(r *http.Request) *apiError {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !eq(scheme, "Bearer") || cred == "" {
		return newErr(http.StatusUnauthorized, "AuthenticationFailed",
			"The emulator's admin API needs the header 'Authorization: Bearer <AZURE_CLIENT_SECRET>', with the client secret the emulator printed.")
	}
	if subtle.ConstantTimeCompare([]byte(cred), []byte(e.cfg.ClientSecret)) != 1 {
		return newErr(http.StatusUnauthorized, "InvalidAuthenticationToken",
			"The bearer credential is not the emulator's client secret.")
	}
	return nil
}

// serveAdmin is the emulator's own control API under /_emulator/, a path
// Azure does not use. It holds no secret: counters, the request log
// (method, path, operation, status) and knobs only. Every request needs
// "Authorization: Bearer <the emulator's client secret>" (see
// authenticateAdmin): its knobs kill containers and fail requests.
//
//	GET  /_emulator/counters            {"byOp":{op:{status:n}},"reads":n,"writes":n,"deletes":n}
//	GET  /_emulator/requests            [{"time","method","path","op","status"}]
//	POST /_emulator/faults              {"op","status","code","message","times","retryAfterSeconds"}
//	DELETE /_emulator/faults            remove pending faults
//	POST /_emulator/provisioning-failures {"times","code","message"}
//	POST /_emulator/throttling          {"enabled":bool, "reads":{"size","refillPerSecond"}, ...}
//	POST /_emulator/kill                {"resourceGroup","group"}
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request, rt route) {
	bad := func(msg string) { writeError(w, badRequest("InvalidRequestContent", "%s", msg)) }
	decode := func(v any) bool {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		if err := dec.Decode(v); err != nil {
			bad("The request body is not valid JSON for " + r.URL.Path + ": " + sanitizeJSONError(err))
			return false
		}
		return true
	}
	switch {
	case rt.action == "counters" && r.Method == http.MethodGet:
		c := e.Counters()
		writeJSON(w, http.StatusOK, map[string]any{"byOp": c.ByOp, "reads": c.Reads(), "writes": c.Writes(), "deletes": c.Deletes()})
	case rt.action == "requests" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, e.RequestLog())
	case rt.action == "faults" && r.Method == http.MethodPost:
		var f struct {
			Op                string  `json:"op"`
			Status            int     `json:"status"`
			Code              string  `json:"code"`
			Message           string  `json:"message"`
			Times             int     `json:"times"`
			RetryAfterSeconds float64 `json:"retryAfterSeconds"`
		}
		if !decode(&f) {
			return
		}
		if f.Op == "" || f.Status < 400 || f.Status > 599 || f.Code == "" {
			bad("A fault needs 'op', a 'status' between 400 and 599 and a 'code'.")
			return
		}
		e.InjectFault(Fault{Op: f.Op, Status: f.Status, Code: f.Code, Message: f.Message, Times: f.Times,
			RetryAfter: time.Duration(f.RetryAfterSeconds * float64(time.Second))})
		w.WriteHeader(http.StatusNoContent)
	case rt.action == "faults" && r.Method == http.MethodDelete:
		e.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case rt.action == "provisioning-failures" && r.Method == http.MethodPost:
		var f struct {
			Times   int    `json:"times"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if !decode(&f) {
			return
		}
		if f.Times <= 0 || f.Code == "" {
			bad("A provisioning failure needs 'times' > 0 and a 'code'.")
			return
		}
		e.FailProvisioning(f.Times, f.Code, f.Message)
		w.WriteHeader(http.StatusNoContent)
	case rt.action == "throttling" && r.Method == http.MethodPost:
		var t struct {
			Enabled *bool   `json:"enabled"`
			Reads   *bucket `json:"reads"`
			Writes  *bucket `json:"writes"`
			Deletes *bucket `json:"deletes"`
		}
		if !decode(&t) {
			return
		}
		if t.Reads != nil || t.Writes != nil || t.Deletes != nil {
			e.SetThrottleLimits(ThrottleLimits{Reads: t.Reads.get(), Writes: t.Writes.get(), Deletes: t.Deletes.get()})
		}
		if t.Enabled != nil {
			e.SetThrottling(*t.Enabled)
		}
		w.WriteHeader(http.StatusNoContent)
	case rt.action == "kill" && r.Method == http.MethodPost:
		var k struct {
			ResourceGroup string `json:"resourceGroup"`
			Group         string `json:"group"`
		}
		if !decode(&k) {
			return
		}
		if err := e.KillContainer(k.ResourceGroup, k.Group); err != nil {
			writeError(w, newErr(http.StatusNotFound, "ResourceNotFound", "%s", err.Error()))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, newErr(http.StatusNotFound, "NotFound", "Unknown emulator admin endpoint %s %s.", r.Method, r.URL.Path))
	}
}

type bucket struct {
	Size            int     `json:"size"`
	RefillPerSecond float64 `json:"refillPerSecond"`
}

func (b *bucket) get() Bucket {
	if b == nil {
		return Bucket{}
	}
	return Bucket{Size: b.Size, RefillPerSecond: b.RefillPerSecond}
}
