package worker

import (
	"fmt"
	"strings"

	"github.com/aciworker/aciworker/aci"
)

// SecretEnvVariable is the job variable that marks environment variables as
// secret: a list of names (or one comma-separated string). It is read from
// the merged job variables (pool default, deployment, flow run), so a pool
// does not need to declare it in its template: deployments and runs can
// set it on any stock pool.
const SecretEnvVariable = "secret_env"

// secretSuffixes mark variables secret by name, so that the usual spellings
// of credentials are protected without anyone remembering to list them.
var secretSuffixes = []string{"_SECRET", "_PASSWORD", "_TOKEN", "_API_KEY"}

// secretRule decides which container variables travel as secure values:
// Prefect's credentials always, names listed in secret_env, and names with
// a credential suffix. A secure value costs nothing at run time; it is only
// hidden from every read of the group and from the deployment history.
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
				return nil, fmt.Errorf("job variable %q: item %d must be a variable name, got %s", SecretEnvVariable, i, describe(item))
			}
			r.listed[strings.ToUpper(strings.TrimSpace(s))] = true
		}
	default:
		return nil, fmt.Errorf("job variable %q must be a list of environment variable names, got %s", SecretEnvVariable, describe(v))
	}
	return r, nil
}

func (r *secretRule) isSecret(name string) bool {
	up := strings.ToUpper(name)
	for _, s := range aci.SecretEnvNames {
		if up == s {
			return true
		}
	}
	if r != nil && r.listed[up] {
		return true
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(up, s) {
			return true
		}
	}
	return false
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
