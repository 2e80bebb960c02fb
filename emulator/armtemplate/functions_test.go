package armtemplate

import (
	"strings"
	"testing"
)

const contextTemplate = `{
  "$schema": "https://schema.management.azure.com/schemas/2019-08-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "s": {"type": "string", "defaultValue": "Hello"},
    "n": {"type": "int", "defaultValue": 5},
    "obj": {"type": "object", "defaultValue": {"a": 1, "B": {"c": [1, 2, 3]}, "f": 1.50}},
    "arr": {"type": "array", "defaultValue": ["x", "y"]},
    "flag": {"type": "Bool", "defaultValue": true},
    "secret": {"type": "secureString", "defaultValue": "pw"},
    "derived": {"type": "string", "defaultValue": "[toUpper(parameters('s'))]"}
  },
  "variables": {
    "greeting": "[concat(parameters('s'), ' world')]",
    "Nested": {"k": "[parameters('n')]", "gone": "[null()]"},
    "chain": "[concat(variables('greeting'), '!')]"
  },
  "functions": [{"namespace": "my", "members": {
    "hi": {"parameters": [{"name": "who", "type": "string"}], "output": {"type": "string", "value": "[concat('hi ', parameters('who'))]"}},
    "bad": {"parameters": [], "output": {"type": "string", "value": "[variables('greeting')]"}}
  }}],
  "resources": [{
    "type": "Microsoft.ContainerInstance/containerGroups",
    "apiVersion": "2022-09-01",
    "name": "g",
    "properties": {"x": "EXPR"}
  }]
}`

// evalInTemplate evaluates expr as a resource property of contextTemplate
// and returns the property as JSON ("<absent>" when removed).
func evalInTemplate(t *testing.T, expr string) (string, error) {
	t.Helper()
	tmpl := decodeJSON(t, contextTemplate)
	res := tmpl["resources"].([]any)[0].(map[string]any)
	res["properties"].(map[string]any)["x"] = expr
	r, err := Evaluate(tmpl, nil, testScope)
	if err != nil {
		return "", err
	}
	v, ok := r.Resources[0].Body["properties"].(map[string]any)["x"]
	if !ok {
		return "<absent>", nil
	}
	return encodeJSON(t, v), nil
}

func TestExpressions(t *testing.T) {
	t.Parallel()
	rgID := "/subscriptions/" + testScope.SubscriptionID + "/resourceGroups/" + testScope.ResourceGroup
	tests := []struct {
		expr, want string
	}{
		// Literals, escaping, and what is an expression at all.
		{"plain", `"plain"`},
		{"[[escaped]", `"[escaped]"`},
		{"[[concat('a')]", `"[concat('a')]"`},
		{"[test] value", `"[test] value"`},
		{"not [an] expression", `"not [an] expression"`},
		{"[concat('it''s')]", `"it's"`},
		{"[concat('')]", `""`},
		{"[ concat ( 'a' , 'b' ) ]", `"ab"`},
		{"[concat('a',\n\t'b')]", `"ab"`},
		{"[add(-3, 1)]", `-2`},
		{"[string('[x]')]", `"[x]"`},
		// Case-insensitive names, case-preserving values.
		{"[PARAMETERS('S')]", `"Hello"`},
		{"[parameters('OBJ').b.C[1]]", `2`},
		{"[parameters('obj')['B']['c'][2]]", `3`},
		{"[variables('NESTED').K]", `5`},
		{"[variables('nested')]", `{"k":5}`},
		{"[VARIABLES('chain')]", `"Hello world!"`},
		{"[UniqueString(ResourceGroup().ID)]", `"` + UniqueString(rgID) + `"`},
		// Typed results replace the string; spelling of numbers is kept.
		{"[parameters('n')]", `5`},
		{"[parameters('obj').f]", `1.50`},
		{"[parameters('flag')]", `true`},
		{"[parameters('arr')]", `["x","y"]`},
		{"[parameters('derived')]", `"HELLO"`},
		{"[parameters('secret')]", `"pw"`},
		// Null means absent.
		{"[null()]", `<absent>`},
		{"[json('null')]", `<absent>`},
		{"[coalesce(null(), null())]", `<absent>`},
		// Scope functions.
		{"[resourceGroup().id]", `"` + rgID + `"`},
		{"[resourceGroup().name]", `"my-RG"`},
		{"[resourceGroup().location]", `"eastus"`},
		{"[resourceGroup().type]", `"Microsoft.Resources/resourceGroups"`},
		{"[resourceGroup().properties.provisioningState]", `"Succeeded"`},
		{"[subscription().subscriptionId]", `"` + testScope.SubscriptionID + `"`},
		{"[subscription().id]", `"/subscriptions/` + testScope.SubscriptionID + `"`},
		{"[subscription().tenantId]", `"` + testScope.TenantID + `"`},
		{"[deployment().name]", `"prefect-flow-1"`},
		{"[deployment().properties.template.contentVersion]", `"1.0.0.0"`},
		{"[tenant().tenantId]", `"` + testScope.TenantID + `"`},
		{"[environment().name]", `"AzureCloud"`},
		{"[resourceId('Microsoft.ContainerInstance/containerGroups', 'g1')]", `"` + rgID + `/providers/Microsoft.ContainerInstance/containerGroups/g1"`},
		{"[resourceId('rg2', 'Microsoft.Network/virtualNetworks/subnets', 'vn', 'sn')]", `"/subscriptions/` + testScope.SubscriptionID + `/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/vn/subnets/sn"`},
		{"[resourceId('sub9', 'rg2', 'Microsoft.Network/virtualNetworks/subnets', 'vn/sn')]", `"/subscriptions/sub9/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/vn/subnets/sn"`},
		{"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]", `"/subscriptions/` + testScope.SubscriptionID + `/providers/Microsoft.Authorization/roleDefinitions/r1"`},
		{"[tenantResourceId('Microsoft.Authorization/policyDefinitions', 'p')]", `"/providers/Microsoft.Authorization/policyDefinitions/p"`},
		{"[extensionResourceId('/x/y', 'Microsoft.Authorization/locks', 'l')]", `"/x/y/providers/Microsoft.Authorization/locks/l"`},
		// Strings.
		{"[uniqueString('aaa')]", `"zavj67f3en4hc"`},
		{"[uniqueString('xxx', 'yyy', 'zzz')]", `"lghi7k5js7itq"`},
		{"[guid('a', 'b', 'c')]", `"a98fa280-e03f-5afa-8d8e-92d0a9c201e8"`},
		{"[concat('a', 1, true())]", `"a1True"`},
		{"[concat(createArray(1), createArray('b'), parameters('arr'))]", `[1,"b","x","y"]`},
		{"[format('{0}-{1}', 'a', 2)]", `"a-2"`},
		{"[format('{{{0}}}', 'x')]", `"{x}"`},
		{"[format('{0:D3}|{0:X}|{1:N0}|{2,4}|{2,-3}|', 7, 1234567, 'ab')]", `"007|7|1,234,567|  ab|ab |"`},
		{"[format('{0:000}', 5)]", `"005"`},
		{"[format('{0}', true())]", `"True"`},
		{"[toLower('AbC')]", `"abc"`},
		{"[toUpper('AbC')]", `"ABC"`},
		{"[trim('  a b  ')]", `"a b"`},
		{"[string(parameters('obj'))]", `"{\"B\":{\"c\":[1,2,3]},\"a\":1,\"f\":1.50}"`},
		{"[string(createArray('a', 1))]", `"[\"a\",1]"`},
		{"[string(true())]", `"True"`},
		{"[string(false())]", `"False"`},
		{"[string(12)]", `"12"`},
		{"[replace('a-b-c', '-', '+')]", `"a+b+c"`},
		{"[split('a,b;c', createArray(',', ';'))]", `["a","b","c"]`},
		{"[split('a,,b', ',')]", `["a","","b"]`},
		{"[join(createArray('a', 'b', 3), '/')]", `"a/b/3"`},
		{"[substring('hello', 1, 3)]", `"ell"`},
		{"[substring('hello', 2)]", `"llo"`},
		{"[indexOf('abcABC', 'C')]", `2`},
		{"[lastIndexOf('abcABC', 'c')]", `5`},
		{"[indexOf('abc', 'z')]", `-1`},
		{"[startsWith('Hello', 'he')]", `true`},
		{"[endsWith('Hello', 'LO')]", `true`},
		{"[endsWith('Hello', 'x')]", `false`},
		{"[padLeft('7', 3, '0')]", `"007"`},
		{"[padLeft(7, 3)]", `"  7"`},
		{"[padLeft('long', 2)]", `"long"`},
		{"[base64('hi there')]", `"aGkgdGhlcmU="`},
		{"[base64ToString('aGkgdGhlcmU=')]", `"hi there"`},
		{"[base64ToJson(base64('{\"a\":1}')).a]", `1`},
		{"[uriComponent('a b/c')]", `"a%20b%2Fc"`},
		{"[uriComponentToString('a%20b')]", `"a b"`},
		{"[uri('https://x.test/a/', 'b')]", `"https://x.test/a/b"`},
		{"[dataUri('hi')]", `"data:text/plain;charset=utf8;base64,aGk="`},
		// Conversions.
		{"[int('42')]", `42`},
		{"[int(' -4 ')]", `-4`},
		{"[int(json('2.5'))]", `2`},
		{"[bool('TRUE')]", `true`},
		{"[bool(0)]", `false`},
		{"[json('{\"a\":[1,2.0]}')]", `{"a":[1,2.0]}`},
		{"[json('true')]", `true`},
		{"[true()]", `true`},
		{"[false()]", `false`},
		{"[array('a')]", `["a"]`},
		{"[array(parameters('arr'))]", `["x","y"]`},
		{"[createArray()]", `[]`},
		{"[createObject('a', 1, 'b', createArray())]", `{"a":1,"b":[]}`},
		{"[createObject()]", `{}`},
		// Logic (if evaluates only the chosen branch).
		{"[if(true(), 'yes', fail())]", `"yes"`},
		{"[if(equals(1, 2), parameters('nope'), 'no')]", `"no"`},
		{"[if(parameters('flag'), null(), 'x')]", `<absent>`},
		{"[equals('a', 'A')]", `false`},
		{"[equals(parameters('obj'), json('{\"A\":1,\"b\":{\"c\":[1,2,3]},\"f\":1.5}'))]", `true`},
		{"[equals(1, json('1.0'))]", `true`},
		{"[equals(createArray(1), createArray(1, 2))]", `false`},
		{"[not(true())]", `false`},
		{"[and(true(), true(), false())]", `false`},
		{"[or(false(), true())]", `true`},
		{"[less(1, 2)]", `true`},
		{"[less('b', 'a')]", `false`},
		{"[lessOrEquals(2, 2)]", `true`},
		{"[greater(3, 2)]", `true`},
		{"[greaterOrEquals(1, 2)]", `false`},
		{"[coalesce(null(), 'b', 'c')]", `"b"`},
		// Collections.
		{"[empty('')]", `true`},
		{"[empty(createArray())]", `true`},
		{"[empty(json('{}'))]", `true`},
		{"[empty(null())]", `true`},
		{"[empty('x')]", `false`},
		{"[length('héllo')]", `5`},
		{"[length(parameters('arr'))]", `2`},
		{"[length(parameters('obj'))]", `3`},
		{"[contains('abc', 'b')]", `true`},
		{"[contains('abc', 'B')]", `false`},
		{"[contains(parameters('arr'), 'y')]", `true`},
		{"[contains(parameters('obj'), 'A')]", `true`},
		{"[union(json('{\"a\":{\"x\":1,\"y\":2},\"n\":[1]}'), json('{\"a\":{\"y\":3},\"n\":[2]}'))]", `{"a":{"x":1,"y":3},"n":[2]}`},
		{"[union(createArray(1, 2), createArray(2, 3))]", `[1,2,3]`},
		{"[intersection(createArray(1, 2, 3), createArray(3, 2))]", `[2,3]`},
		{"[intersection(json('{\"a\":1,\"b\":2}'), json('{\"a\":1,\"b\":3}'))]", `{"a":1}`},
		{"[take(parameters('arr'), 1)]", `["x"]`},
		{"[take('hello', 10)]", `"hello"`},
		{"[take('hello', -1)]", `""`},
		{"[skip('hello', 3)]", `"lo"`},
		{"[skip(parameters('arr'), 5)]", `[]`},
		{"[first(parameters('arr'))]", `"x"`},
		{"[last('abc')]", `"c"`},
		{"[range(2, 3)]", `[2,3,4]`},
		{"[items(json('{\"b\":1,\"a\":2}'))]", `[{"key":"a","value":2},{"key":"b","value":1}]`},
		{"[min(3, 1, 2)]", `1`},
		{"[max(createArray(3, 9, 2))]", `9`},
		{"[tryGet(parameters('obj'), 'B', 'c', 1)]", `2`},
		{"[tryGet(parameters('obj'), 'nope', 'c')]", `<absent>`},
		{"[tryGet(parameters('arr'), 5)]", `<absent>`},
		{"[flatten(createArray(createArray(1), createArray(), createArray(2, 3)))]", `[1,2,3]`},
		{"[shallowMerge(createArray(json('{\"a\":{\"x\":1},\"b\":1}'), json('{\"a\":{\"y\":2}}')))]", `{"a":{"y":2},"b":1}`},
		{"[objectKeys(parameters('obj'))]", `["B","a","f"]`},
		// Numbers.
		{"[add(2, 3)]", `5`},
		{"[sub(2, 3)]", `-1`},
		{"[mul(4, -3)]", `-12`},
		{"[div(7, 2)]", `3`},
		{"[div(-7, 2)]", `-3`},
		{"[mod(7, 3)]", `1`},
		{"[mod(-7, 3)]", `-1`},
		// User-defined functions.
		{"[my.hi('bob')]", `"hi bob"`},
		{"[MY.HI(parameters('s'))]", `"hi Hello"`},
	}
	for _, tt := range tests {
		got, err := evalInTemplate(t, tt.expr)
		if err != nil {
			t.Errorf("%s: error %v", tt.expr, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, want string
	}{
		{"[like('a')]", "The template function 'like' is not valid. Please see https://aka.ms/arm-functions for usage details."},
		{"[parameters('missing')]", "The template parameter 'missing' is not found."},
		{"[variables('missing')]", "The template variable 'missing' is not found."},
		{"[concat('a', createArray('b'))]", "'concat' expects its parameters to be all strings, integers or booleans, or all arrays, but the second parameter is of type 'Array'"},
		{"[concat(createArray('b'), 'a')]", "'concat' expects all its parameters to be arrays when the first is an array, but the second parameter is of type 'String'"},
		{"[concat()]", "The template language function 'concat' must have at least 1 parameter(s), but 0 were provided."},
		{"[toLower(1)]", "The template language function 'toLower' expects its first parameter to be of type 'String'. The provided value is of type 'Integer'."},
		{"[toLower('a', 'b')]", "The template language function 'toLower' must have exactly 1 parameter(s), but 2 were provided."},
		{"[substring('abc', 1, 5)]", "'substring' has an invalid start index '1' or length '5'"},
		{"[substring('abc')]", "'substring' must have between 2 and 3 parameters, but 1 were provided"},
		{"[int('x')]", "'int' cannot convert the string 'x' to an integer"},
		{"[bool('yes')]", "'bool' cannot convert the string 'yes' to a boolean"},
		{"[json('{')]", "'json' has an invalid parameter: the value is not valid JSON"},
		{"[if('true', 1, 2)]", "'if' expects its first parameter to be of type 'Boolean'. The provided value is of type 'String'."},
		{"[if(true(), 1)]", "'if' must have exactly 3 parameter(s)"},
		{"[not(1)]", "'not' expects its first parameter to be of type 'Boolean'"},
		{"[and(true())]", "'and' must have at least 2 parameter(s)"},
		{"[add(1, '2')]", "'add' expects its second parameter to be of type 'Integer'. The provided value is of type 'String'."},
		{"[add(json('1.5'), 1)]", "'add' expects its first parameter to be of type 'Integer'. The provided value is of type 'Float'."},
		{"[div(1, 0)]", "'div' cannot be evaluated for '1' and '0': the divisor must not be zero."},
		{"[mod(1, 0)]", "the divisor must not be zero"},
		{"[add(9223372036854775807, 1)]", "overflows a 64-bit integer"},
		{"[mul(9223372036854775807, 2)]", "overflows a 64-bit integer"},
		{"[less(1, 'a')]", "'less' expects its second parameter to be of type 'Integer'"},
		{"[length(1)]", "'length' expects its parameter to be an array, an object, or a string. The provided value is of type 'Integer'."},
		{"[createObject('a')]", "'createObject' expects an even number of parameters"},
		{"[createObject(1, 2)]", "'createObject' expects its first parameter to be of type 'String'"},
		{"[union(createArray(1), json('{}'))]", "'union' expects its second parameter to be of type 'Array'"},
		{"[resourceId('a', 'b')]", "function requires exactly one multi-segmented argument"},
		{"[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vn')]", "the type 'Microsoft.Network/virtualNetworks/subnets' requires '2' resource name argument(s)"},
		{"[format('{1}', 'a')]", "Index (zero based) must be greater than or equal to zero and less than the size of the argument list"},
		{"[format('{0', 'a')]", "Input string was not in a correct format"},
		{"[format('}', 'a')]", "Input string was not in a correct format"},
		{"[padLeft('a', 3, 'xy')]", "'padLeft' expects its third parameter (the padding character) to be a single character"},
		{"[padLeft('a', 100000)]", "'padLeft' expects its second parameter (the total length) to be between 0 and 16384"},
		{"[range(0, 10001)]", "'range' expects its count to be between 0 and 10000"},
		{"[replace('a', '', 'b')]", "'replace' expects its second parameter (the string to replace) to be non-empty"},
		{"[uniqueString()]", "'uniqueString' must have at least 1 parameter(s)"},
		{"[uniqueString(1)]", "'uniqueString' expects its first parameter to be of type 'String'"},
		{"[guid(createArray())]", "'guid' expects its first parameter to be of type 'String'"},
		{"[parameters('obj').missing]", "The language expression property 'missing' doesn't exist, available properties are 'B, a, f'."},
		{"[parameters('arr')[2]]", "The language expression property array index '2' is out of bounds."},
		{"[parameters('arr')['x']]", "an array index must be an integer"},
		{"[parameters('s').length]", "property access needs an object"},
		{"[reference('x')]", "The template function 'reference' is not supported by this emulator"},
		{"[utcNow()]", "The template function 'utcNow' is not supported by this emulator"},
		{"[my.bad()]", "The template function 'variables' is not expected at this location"},
		{"[my.hi(1)]", "The template function 'my.hi' expects its parameter 'who' to be of type 'string'"},
		{"[my.nope()]", "The template function 'my.nope' is not valid."},
		{"[flatten(createArray(1))]", "'flatten' expects an array of arrays, but item 0 is of type 'Integer'"},
		{"[filter(createArray(1), lambda('x', true()))]", "The template function 'filter' is not supported by this emulator: lambda functions are not supported."},
		{"[min()]", "'min' must have at least 1 parameter(s)"},
		// Syntax.
		{"[concat('a']", "Unable to parse language expression 'concat('a'': expected token 'RightParenthesis' and actual 'EndOfData'"},
		{"[concat('a'", "<literal>"},
		{"[concat('a)]", "the string literal is not terminated"},
		{"['abc']", "expected token 'Identifier' and actual 'Literal'"},
		{"[]", "expected token 'Identifier' and actual 'EndOfData'"},
		{"[concat('a') concat('b')]", "expected token 'EndOfData' and actual 'Identifier'"},
		{"[concat('a',)]", "expected token 'Identifier' and actual 'RightParenthesis'"},
		{"[concat(1.5)]", "only integer literals are supported"},
		{"[concat(\"a\")]", "the character '\"' is not expected"},
		{"[parameters('obj').]", "expected token 'Identifier' and actual 'EndOfData'"},
		{"[concat(99999999999999999999)]", "out of range"},
		{"[concat('" + strings.Repeat("a", MaxExpressionLength-11) + "')]", "The template language expression length limit exceeded. Limit: '24576' and actual: '24577'."},
	}
	for _, tt := range tests {
		got, err := evalInTemplate(t, tt.expr)
		if tt.want == "<literal>" {
			if want := encodeJSON(t, tt.expr); err != nil || got != want {
				t.Errorf("%s = %s, %v; want the literal %s", tt.expr, got, err, want)
			}
			continue
		}
		if err == nil {
			t.Errorf("%.80s: no error, want %q", tt.expr, tt.want)
			continue
		}
		ae, ok := err.(*Error)
		if !ok || ae.Code != "InvalidTemplate" || !strings.Contains(ae.Message, tt.want) {
			t.Errorf("%.80s: error %v\nwant InvalidTemplate containing %q", tt.expr, err, tt.want)
			continue
		}
		if !strings.HasPrefix(ae.Message, "Deployment template validation failed: '") {
			t.Errorf("%s: message %q lacks ARM's prefix", tt.expr, ae.Message)
		}
		if p := ae.Path(); p != "properties.template.resources[0].properties.x" {
			t.Errorf("%s: path %q", tt.expr, p)
		}
	}
}

// The limit admits an expression of exactly MaxExpressionLength characters.
func TestExpressionLengthLimit(t *testing.T) {
	t.Parallel()
	s := "[concat('" + strings.Repeat("a", MaxExpressionLength-12) + "')]"
	if n := len(s); n != MaxExpressionLength {
		t.Fatalf("test string has %d characters", n)
	}
	v, err := EvalString(s, testScope)
	if err != nil {
		t.Fatalf("EvalString: %v", err)
	}
	if got := v.(string); len(got) != MaxExpressionLength-12 {
		t.Fatalf("got %d characters", len(got))
	}
}
