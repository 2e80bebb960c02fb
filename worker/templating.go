package worker

import (
	"context"

	"github.com/aciworker/aciworker/jobtemplate"
)

// The job configuration is rendered with Prefect's exact templating rules
// (the jobtemplate package); these wrappers keep the worker's call sites
// small.

// mergeJobVariables fails where Python's dict.update would, so that such a
// run crashes with a reason as it does under the Python worker.
func mergeJobVariables(deployment, flowRun map[string]any) (map[string]any, error) {
	return jobtemplate.MergeJobVariablesStrict(deployment, flowRun)
}

// renderTemplate renders the job configuration and returns, with it, the
// paths of the values that came from a secret source.
func renderTemplate(ctx context.Context, base map[string]any, values map[string]any, r *resolver) (map[string]any, [][]string, error) {
	var secret [][]string
	out, err := jobtemplate.Render(ctx, base, values, jobtemplate.Options{
		Resolver: r, LookupEnv: r.LookupEnv,
		MarkSecret: func(path []string) { secret = append(secret, path) },
	})
	return out, secret, err
}

func pyStr(v any) string { return jobtemplate.PyStr(v) }
