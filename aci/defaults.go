package aci

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

// defaultBaseJobTemplate is the base job template prefect-azure 0.4.13's
// azure-container-instance worker produces, byte for byte as its CLI prints it.
//
//go:embed basejobtemplate.json
var defaultBaseJobTemplate []byte

// DefaultBaseJobTemplate returns the default work-pool base job template as
// JSON. The slice is a copy the caller may keep.
func DefaultBaseJobTemplate() []byte {
	return bytes.Clone(defaultBaseJobTemplate)
}

// DefaultARMTemplate returns the ARM template of the default base job
// template, still holding its {{ placeholders }}, decoded with json.Number so
// that integers and floats keep their JSON spelling.
func DefaultARMTemplate() (map[string]any, error) {
	var t struct {
		JobConfiguration struct {
			ARMTemplate map[string]any `json:"arm_template"`
		} `json:"job_configuration"`
	}
	dec := json.NewDecoder(bytes.NewReader(defaultBaseJobTemplate))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("decode default base job template: %w", err)
	}
	return t.JobConfiguration.ARMTemplate, nil
}
