package worker

import (
	"context"
	"errors"

	"github.com/aciworker/aciworker/prefect"
)

// resolver answers the templating's block and variable lookups from
// Prefect, and {{ $VAR }} from the worker's environment.
type resolver struct {
	pf  *prefect.Client
	env map[string]string
}

func (r *resolver) BlockDocument(ctx context.Context, id string) (map[string]any, error) {
	b, err := r.pf.ReadBlockDocument(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.Data, nil
}

func (r *resolver) BlockDocumentByName(ctx context.Context, typeSlug, name string) (map[string]any, error) {
	b, err := r.pf.ReadBlockDocumentByName(ctx, typeSlug, name)
	if err != nil {
		return nil, err
	}
	return b.Data, nil
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
	return v, ok
}
