package armtemplate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"[concat('a', 'b')]",
	"[[escaped]",
	"[parameters('obj').B.c[0]]",
	"[if(true(), 'a', fail())]",
	"[ uniqueString ( resourceGroup ( ) . id ) ]",
	"[format('{0:D3} {1,-4}|', 7, 'x')]",
	"[json('{\"a\":[1,2.5,null]}').a[1]]",
	"[my.hi('x')]",
	"[concat('it''s', '')]",
	"[add(-1, 9223372036854775807)]",
	"[replace(replace('ab', 'a', 'aa'), 'a', 'aa')]",
	"[union(range(0, 100), range(50, 100))]",
	"[padLeft('x', 100, '0')]",
	"[split('a,b', ',')[1]]",
	"[string(createObject('k', createArray(1, true(), null())))]",
	"[substring('héllo😀', 1, 5)]",
	"[concat(",
	"[]",
	"['x']",
	"[a.b.c(]",
}

// FuzzParseExpression checks the parser never panics, and that an
// expression it accepts renders (String) to text that parses back to the
// same expression.
func FuzzParseExpression(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpression(s)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != "InvalidTemplate" {
				t.Fatalf("ParseExpression(%q) error %v is not an InvalidTemplate *Error", s, err)
			}
			return
		}
		if _, isLit := e.(stringLit); isLit {
			return
		}
		text := "[" + e.String() + "]"
		if len([]rune(text)) > MaxExpressionLength {
			return
		}
		again, err := ParseExpression(text)
		if err != nil {
			t.Fatalf("rendering %q of %q does not parse: %v", text, s, err)
		}
		if again.String() != e.String() {
			t.Fatalf("round trip of %q: %q != %q", s, again.String(), e.String())
		}
	})
}

// FuzzEvaluateExpression evaluates arbitrary strings inside a template
// with parameters, variables and user functions: no panic, no hang, every
// error an *Error, every result JSON-encodable.
func FuzzEvaluateExpression(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	base := decodeJSON(f, contextTemplate)
	f.Fuzz(func(t *testing.T, s string) {
		tmpl := deepCopy(base).(map[string]any)
		res := tmpl["resources"].([]any)[0].(map[string]any)
		res["properties"].(map[string]any)["x"] = s
		r, err := Evaluate(tmpl, nil, testScope)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Code == "" || ae.Message == "" {
				t.Fatalf("Evaluate error %v is not an ARM *Error", err)
			}
			return
		}
		if _, err := json.Marshal(r.Resources); err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
	})
}

// FuzzEvaluateTemplate feeds whole templates and parameter objects.
func FuzzEvaluateTemplate(f *testing.F) {
	f.Add(contextTemplate, `{}`)
	f.Add(`{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"int","minValue":1}},"resources":[],"outputs":{"o":{"type":"int","value":"[parameters('p')]"}}}`, `{"p":{"value":2}}`)
	f.Add(`{"contentVersion":"1.0.0.0","variables":{"a":"[variables('b')]","b":"[variables('a')]"},"resources":[]}`, `{}`)
	f.Add(`{"contentVersion":"1.0.0.0","resources":[{"type":"A.B/c","apiVersion":"1","name":"[concat('n')]","condition":"[equals(1,1)]"}]}`, `{"x":{"value":1}}`)
	f.Fuzz(func(t *testing.T, template, params string) {
		dec := json.NewDecoder(strings.NewReader(template))
		dec.UseNumber()
		var tm map[string]any
		if dec.Decode(&tm) != nil {
			return
		}
		dec = json.NewDecoder(strings.NewReader(params))
		dec.UseNumber()
		var pm map[string]any
		if dec.Decode(&pm) != nil {
			pm = nil
		}
		r, err := Evaluate(tm, pm, testScope)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Code == "" || ae.Message == "" {
				t.Fatalf("Evaluate error %v is not an ARM *Error", err)
			}
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
	})
}
