package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/jobtemplate"

	"github.com/aciworker/aciworker/prefect"
)

// resolver answers the templating's block and variable lookups from
// Prefect, and {{ $VAR }} from the worker's environment, except the
// variables that hold the worker's own secrets: those it records in
// refused, and the run is refused.
type resolver struct {
	pf      *prefect.Client
	env     map[string]string
	secrets []string          // the worker's own secret values
	azure   map[string]string // the worker's Azure credentials by variable name
	refused []string
}

// checkValues refuses job variables that hold the value of one of the
// worker's Azure credentials, e.g. a {{ $AZURE_CLIENT_SECRET }} filled in
// where the deployment was made, naming the variable.
func (r *resolver) checkValues(v any) {
	switch t := v.(type) {
	case string:
		for _, name := range slices.Sorted(maps.Keys(r.azure)) {
			if s := r.azure[name]; len(s) >= aci.MinSecretLength && strings.Contains(t, s) {
				r.refuse(name)
			}
		}
	case map[string]any:
		for _, x := range t {
			r.checkValues(x)
		}
	case []any:
		for _, x := range t {
			r.checkValues(x)
		}
	}
}

// checkPlaceholders refuses every {{ $NAME }} placeholder of v that names a
// withheld variable, even one templating leaves unfilled (a value inserted
// by {{ env }} keeps its placeholders): it would be filled by whatever
// templates the value next. The Azure credential chain's names are refused
// even when the worker's environment does not set them.
func (r *resolver) checkPlaceholders(v any) {
	for _, name := range jobtemplate.EnvPlaceholders(v) {
		if slices.Contains(azureCredentialEnv, strings.ToUpper(name)) {
			r.refuse(name)
		} else {
			r.LookupEnv(name)
		}
	}
}

func (r *resolver) refuse(name string) {
	if !slices.Contains(r.refused, name) {
		r.refused = append(r.refused, name)
	}
}

func (r *resolver) BlockDocument(ctx context.Context, id string) (jobtemplate.Block, error) {
	b, err := r.pf.ReadBlockDocument(ctx, id)
	if err != nil {
		return jobtemplate.Block{}, err
	}
	return templateBlock(b), nil
}

func (r *resolver) BlockDocumentByName(ctx context.Context, typeSlug, name string) (jobtemplate.Block, error) {
	b, err := r.pf.ReadBlockDocumentByName(ctx, typeSlug, name)
	if err != nil {
		return jobtemplate.Block{}, err
	}
	return templateBlock(b), nil
}

// secretBlockType says whether every value of a block type is secret: the
// Secret block, and credentials blocks (aws-credentials,
// azure-container-instance-credentials, docker-registry-credentials, ...),
// whose every field serves to authenticate.
func secretBlockType(slug string) bool {
	return slug == "secret" || strings.HasSuffix(slug, "-credentials") || slug == "credentials"
}

// templateBlock reads a block document's secrecy from its block type and
// schema: Prefect's secret_fields (SecretStr, SecretDict, nested blocks'
// secrets) and any top-level property of format "password".
func templateBlock(b *prefect.BlockDocument) jobtemplate.Block {
	out := jobtemplate.Block{Data: b.Data, Secret: secretBlockType(b.BlockTypeSlug())}
	if b.BlockSchema == nil {
		return out
	}
	if list, ok := b.BlockSchema.Fields["secret_fields"].([]any); ok {
		for _, f := range list {
			if s, ok := f.(string); ok && s != "" {
				out.SecretFields = append(out.SecretFields, s)
			}
		}
	}
	if props, ok := b.BlockSchema.Fields["properties"].(map[string]any); ok {
		for name, p := range props {
			if pm, ok := p.(map[string]any); ok && pm["format"] == "password" && !slices.Contains(out.SecretFields, name) {
				out.SecretFields = append(out.SecretFields, name)
			}
		}
	}
	slices.Sort(out.SecretFields)
	return out
}

func (r *resolver) Variable(ctx context.Context, name string) (any, bool, error) {
	v, err := r.pf.ReadVariableByName(ctx, name)
	if errors.Is(err, prefect.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v.Value, true, nil
}

func (r *resolver) LookupEnv(name string) (string, bool) {
	v, ok := r.env[name]
	if (ok && r.withheld(name, v)) || slices.Contains(azureCredentialEnv, strings.ToUpper(name)) {
		r.refuse(name)
		return "", false
	}
	return v, ok
}

// withheld says whether a deployment may not read a variable of the
// worker's environment: the Azure credential chain's secrets, any name or
// value the secret rule marks secret, any value of the worker's secrets.
func (r *resolver) withheld(name, value string) bool {
	if slices.Contains(azureCredentialEnv, strings.ToUpper(name)) || secretName(name) || secretValue(value) {
		return true
	}
	for _, s := range r.secrets {
		if len(s) >= aci.MinSecretLength && strings.Contains(value, s) {
			return true
		}
	}
	return false
}

// refusal is the error for a template that read withheld variables.
func (r *resolver) refusal() error {
	if len(r.refused) == 0 {
		return nil
	}
	names := make([]string, len(r.refused))
	for i, n := range r.refused {
		names[i] = "$" + n
	}
	return fmt.Errorf("the job variables read %s from the worker's environment: a deployment may not read the worker's credentials or other secrets; pass the value with a Secret block instead", strings.Join(names, ", "))
}
