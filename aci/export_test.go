package aci

// Internals the external tests (package aci_test) check.
var Escape = escape
