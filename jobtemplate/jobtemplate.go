// Package jobtemplate renders Prefect base job templates with Prefect's exact
// rules. (Placeholder file: the jobtemplate work replaces it.)
package jobtemplate

// ApplyValues substitutes {{ placeholders }} in template with values,
// exactly as prefect.utilities.templating.apply_values(template, values,
// remove_notset=True) does. Values must be decoded with json.Number.
func ApplyValues(template any, values map[string]any) any {
	panic("jobtemplate.ApplyValues: not implemented yet")
}
