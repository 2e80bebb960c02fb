package worker

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefectaci"
)

// SecretEnvVariable is the job variable that marks environment variables as
// secret: a list of names (or one comma-separated string). It is read from
// the merged job variables (pool default, deployment, flow run), so a pool
// does not need to declare it in its template: deployments and runs can
// set it on any stock pool.
const SecretEnvVariable = "secret_env"

// secretSuffixes mark variables secret by name, so that the usual spellings
// of credentials are protected without anyone remembering to list them. A
// name equal to a suffix without its underscore (TOKEN, PASSWORD) is secret
// too.
var secretSuffixes = []string{"_SECRET", "_PASSWORD", "_PASSWD", "_TOKEN", "_KEY", "_AUTH_STRING", "_CREDENTIALS", "_CONNECTION_STRING"}

// azureCredentialEnv are the variables the Azure SDK's credential chain
// reads a secret (or the file holding one) from. A deployment may not read
// them from the worker's environment.
var azureCredentialEnv = []string{
	"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_HEADER", "MSI_SECRET",
}

// userinfoURL matches a URL whose authority carries userinfo
// (scheme://user:password@host): connection strings put passwords there.
var userinfoURL = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\s@]*@`)

// secretName reports whether a variable name says it holds a credential:
// Prefect's credentials and the suffixes above.
func secretName(name string) bool {
	up := strings.ToUpper(name)
	for _, s := range prefectaci.SecretEnvNames {
		if up == s {
			return true
		}
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(up, s) || up == s[1:] {
			return true
		}
	}
	return false
}

// secretValue reports whether a value authenticates by its shape alone.
func secretValue(v string) bool { return userinfoURL.MatchString(v) }

// secretRule decides which container variables travel as secure values:
// Prefect's credentials always, names listed in secret_env, names with a
// credential suffix, URLs with userinfo, and values whose provenance is
// secret (a Secret block, a secret field of a block, a credentials block).
// A secure value costs nothing at run time; it is only hidden from every
// read of the group and from the deployment history.
type secretRule struct {
	listed map[string]bool
}

func newSecretRule(jobVariables map[string]any) (*secretRule, error) {
	r := &secretRule{listed: map[string]bool{}}
	v, ok := jobVariables[SecretEnvVariable]
	if !ok || v == nil {
		return r, nil
	}
	switch x := v.(type) {
	case string:
		for _, n := range strings.Split(x, ",") {
			if n = strings.TrimSpace(n); n != "" {
				r.listed[strings.ToUpper(n)] = true
			}
		}
	case []any:
		for i, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("job variable %q: item %d must be a variable name, got %s", SecretEnvVariable, i, describeType(item))
			}
			r.listed[strings.ToUpper(strings.TrimSpace(s))] = true
		}
	default:
		return nil, fmt.Errorf("job variable %q must be a list of environment variable names, got %s", SecretEnvVariable, describeType(v))
	}
	return r, nil
}

// isSecret decides for one variable by its name and value.
func (r *secretRule) isSecret(name, value string) bool {
	if r != nil && r.listed[strings.ToUpper(name)] {
		return true
	}
	return secretName(name) || secretValue(value)
}

// secretValues lists the values of a job's secret variables and registry
// password, for redaction of everything the worker writes about the run.
func secretValues(job aci.Job) []string {
	var out []string
	for _, e := range job.Env {
		if e.Secret && e.Value != "" {
			out = append(out, e.Value)
		}
	}
	if job.Registry != nil && job.Registry.Password != "" {
		out = append(out, job.Registry.Password)
	}
	return out
}
