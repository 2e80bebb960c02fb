// Package armtemplate is the emulator's own implementation of the Azure
// Resource Manager template language: it validates a deployment's template
// and parameters and evaluates them the way ARM does, producing the
// resources to create and the outputs to report. It is pure (no I/O) and
// safe for concurrent use.
//
// Values follow encoding/json with UseNumber: numbers are json.Number on
// output so that a template's 1.0 stays 1.0 when re-encoded. Inputs may also
// hold float64 or Go integer types; those are converted to json.Number
// (an integral float64 becomes an integer, since its spelling is lost).
//
// Choices where Azure's engine (closed source) is not documented exactly:
//   - guid() is a version-5 UUID (SHA-1) of the arguments joined with '-'
//     under the namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830, which is
//     what independent re-implementations use to predict Azure's values.
//   - An int parameter accepts only Integer JSON tokens: 1.0 is a Float and
//     is rejected, as Newtonsoft.Json classifies it.
//   - allowedValues compare exactly (case-sensitive strings).
//   - and()/or() evaluate all arguments; only if() is lazy.
//   - A template string "[]" or one whose expression is not a function call
//     (['x']) is a parse error rather than a literal.
//   - Values of secure parameters (3 characters or more) are replaced by
//     "***" in error messages.
//   - reference(), list*(), copy loops, nested child resources, Key Vault
//     parameter references, lambdas, utcNow() and newGuid() are rejected
//     with an explicit "not supported by this emulator" message.
package armtemplate

import (
	"fmt"
	"strings"
)

// Scope is what ARM knows about where a deployment runs.
type Scope struct {
	SubscriptionID, TenantID, ResourceGroup, Location, DeploymentName string
	ResourceGroupTags                                                 map[string]string
	// SubscriptionDisplayName is subscription().displayName; "" uses a
	// fixed placeholder.
	SubscriptionDisplayName string
	// ResourceGroupManagedBy is resourceGroup().managedBy, present only
	// when non-empty as in Azure.
	ResourceGroupManagedBy string
}

// Error is an ARM-shaped error (the "error" member of an ARM error
// response). Code is e.g. "InvalidTemplate" or "InvalidRequestContent".
type Error struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Target  string  `json:"target,omitempty"`
	Details []Error `json:"details,omitempty"`
	// AdditionalInfo carries a TemplateViolation with the JSON path of the
	// offending template element, as ARM reports it.
	AdditionalInfo []AdditionalInfo `json:"additionalInfo,omitempty"`
}

// AdditionalInfo is one entry of an ARM error's additionalInfo array.
type AdditionalInfo struct {
	Type string         `json:"type"`
	Info map[string]any `json:"info"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Path returns the template path recorded in a TemplateViolation, or "".
func (e *Error) Path() string {
	for _, a := range e.AdditionalInfo {
		if a.Type == "TemplateViolation" {
			if p, ok := a.Info["path"].(string); ok {
				return p
			}
		}
	}
	return ""
}

// Param is an effective parameter or output value. Type is the type as
// declared in the template (e.g. "string", "secureObject"); Value is the
// JSON value (numbers as json.Number).
type Param struct {
	Type  string
	Value any
}

// Resource is one resource to deploy after evaluation.
type Resource struct {
	Type, APIVersion, Name, Location string
	// Body is the whole evaluated resource (type, apiVersion, name,
	// location, properties, tags, identity, sku, zones, dependsOn, ...),
	// without "condition". Properties whose expressions yielded null are
	// absent.
	Body map[string]any
}

// Result is an evaluated deployment.
type Result struct {
	Parameters map[string]Param // effective values, keyed by declared name
	Resources  []Resource       // resources whose condition is false are omitted
	Outputs    map[string]Param
}

const (
	codeInvalidTemplate       = "InvalidTemplate"
	codeInvalidRequestContent = "InvalidRequestContent"
)

func invalidTemplate(msg string) *Error {
	return &Error{Code: codeInvalidTemplate, Message: msg}
}

// validationFailed wraps an inner message the way ARM reports synchronous
// template validation failures, and records the template path.
func validationFailed(inner, path, target string) *Error {
	inner = strings.TrimSuffix(inner, ".")
	e := &Error{
		Code:    codeInvalidTemplate,
		Message: fmt.Sprintf("Deployment template validation failed: '%s.'.", inner),
		Target:  target,
	}
	if path != "" {
		e.AdditionalInfo = []AdditionalInfo{{Type: "TemplateViolation", Info: map[string]any{"lineNumber": 0, "linePosition": 0, "path": path}}}
	}
	return e
}

func requestContent(msg, path string) *Error {
	return &Error{Code: codeInvalidRequestContent, Message: fmt.Sprintf("%s Path '%s'.", msg, path)}
}
