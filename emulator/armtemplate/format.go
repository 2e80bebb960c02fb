package armtemplate

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// fnFormat implements format() with .NET composite formatting:
// {index[,alignment][:formatString]}, "{{" and "}}" for literal braces.
// Numeric format strings D, X, N, F (with optional precision) and custom
// zero-padding patterns such as "000" are supported; others are rejected
// rather than silently formatted differently from Azure.
func fnFormat(_ *evalCtx, name string, a []any) (any, error) {
	f, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	args := a[1:]
	bad := func(detail string) error {
		return exprErrorf("The template language function '%s' failed: %s. Please see https://aka.ms/arm-functions for usage details.", name, detail)
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		switch ch := f[i]; ch {
		case '{':
			if i+1 < len(f) && f[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return nil, bad("Input string was not in a correct format (an opening brace has no closing brace)")
			}
			item := f[i+1 : i+end]
			i += end
			spec := ""
			if c := strings.IndexByte(item, ':'); c >= 0 {
				item, spec = item[:c], item[c+1:]
			}
			align := int64(0)
			if c := strings.IndexByte(item, ','); c >= 0 {
				n, perr := strconv.ParseInt(strings.TrimSpace(item[c+1:]), 10, 64)
				if perr != nil || n > maxBuiltLength || n < -maxBuiltLength {
					return nil, bad("Input string was not in a correct format (invalid alignment '" + item[c+1:] + "')")
				}
				item, align = item[:c], n
			}
			idx, perr := strconv.Atoi(strings.TrimSpace(item))
			if perr != nil {
				return nil, bad("Input string was not in a correct format (invalid format item '{" + item + "}')")
			}
			if idx < 0 || idx >= len(args) {
				return nil, bad("Index (zero based) must be greater than or equal to zero and less than the size of the argument list")
			}
			s, ferr := formatValue(args[idx], spec)
			if ferr != "" {
				return nil, bad(ferr)
			}
			if pad := int(abs64(align)) - utf8.RuneCountInString(s); pad > 0 {
				if align > 0 {
					s = strings.Repeat(" ", pad) + s
				} else {
					s += strings.Repeat(" ", pad)
				}
			}
			b.WriteString(s)
		case '}':
			if i+1 < len(f) && f[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return nil, bad("Input string was not in a correct format (a closing brace has no opening brace)")
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), nil
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// formatValue renders one argument; a non-empty second result explains a
// format string that cannot be applied.
func formatValue(v any, spec string) (string, string) {
	n, isNum := v.(json.Number)
	if spec == "" || !isNum {
		return toText(v), ""
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return "", "the number '" + string(n) + "' cannot be formatted"
	}
	i, isInt := asInt(n)
	if strings.Trim(spec, "0#") == "" {
		zeros := strings.Count(spec, "0")
		s := strconv.FormatFloat(math.Abs(math.RoundToEven(f)), 'f', 0, 64)
		if isInt {
			s = strings.TrimPrefix(strconv.FormatInt(i, 10), "-")
		}
		if len(s) < zeros {
			s = strings.Repeat("0", zeros-len(s)) + s
		}
		if s == "0" && zeros == 0 {
			s = ""
		}
		if f < 0 && s != "" {
			s = "-" + s
		}
		return s, ""
	}
	kind := spec[0]
	prec := -1
	if len(spec) > 1 {
		p, err := strconv.Atoi(spec[1:])
		if err != nil || p < 0 || p > 99 {
			return "", "the format string '" + spec + "' is not supported"
		}
		prec = p
	}
	switch kind {
	case 'D', 'd':
		if !isInt {
			return "", "the format string '" + spec + "' applies only to integers"
		}
		s := strconv.FormatInt(i, 10)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		if len(s) < prec {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		if neg {
			s = "-" + s
		}
		return s, ""
	case 'X', 'x':
		if !isInt {
			return "", "the format string '" + spec + "' applies only to integers"
		}
		s := strconv.FormatUint(uint64(i), 16)
		if kind == 'X' {
			s = strings.ToUpper(s)
		}
		if len(s) < prec {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		return s, ""
	case 'F', 'f', 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		s := strconv.FormatFloat(f, 'f', prec, 64)
		if isInt {
			s = strconv.FormatInt(i, 10)
			if prec > 0 {
				s += "." + strings.Repeat("0", prec)
			}
		}
		if kind == 'N' || kind == 'n' {
			s = groupThousands(s)
		}
		return s, ""
	}
	return "", "the format string '" + spec + "' is not supported by this emulator"
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac := s, ""
	if d := strings.IndexByte(s, '.'); d >= 0 {
		intPart, frac = s[:d], s[d:]
	}
	var b strings.Builder
	for i, ch := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := b.String() + frac
	if neg {
		out = "-" + out
	}
	return out
}
