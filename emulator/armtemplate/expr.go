package armtemplate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxExpressionLength is ARM's limit on the length of one template
// language expression, in characters.
const MaxExpressionLength = 24576

// Expr is a parsed template string. A string that is not a language
// expression parses to a string literal, so every template string has an
// Expr. String renders the node in expression syntax (without the outer
// brackets) such that parsing "[" + e.String() + "]" yields an equal Expr.
type Expr interface {
	String() string
	node()
}

type (
	// stringLit is a quoted literal inside an expression, or a whole
	// template string that is not an expression.
	stringLit struct{ val string }
	// intLit keeps the literal's spelling so results stay json.Number.
	intLit struct{ val int64 }
	// call's name is kept as written; lookups fold case.
	call struct {
		name string
		args []Expr
	}
	property struct {
		x    Expr
		name string
	}
	index struct{ x, idx Expr }
)

func (stringLit) node() {}
func (intLit) node()    {}
func (*call) node()     {}
func (*property) node() {}
func (*index) node()    {}

func (s stringLit) String() string {
	return "'" + strings.ReplaceAll(s.val, "'", "''") + "'"
}

func (n intLit) String() string { return strconv.FormatInt(n.val, 10) }

func (c *call) String() string {
	var b strings.Builder
	b.WriteString(c.name)
	b.WriteByte('(')
	for i, a := range c.args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	b.WriteByte(')')
	return b.String()
}

func (p *property) String() string { return p.x.String() + "." + p.name }

func (ix *index) String() string { return ix.x.String() + "[" + ix.idx.String() + "]" }

// IsExpression reports whether a template string is a language expression:
// it starts with '[' and ends with ']' and is not escaped with "[[".
func IsExpression(s string) bool {
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && s[1] != '['
}

// ParseExpression parses one template string value. A string that is not
// an expression yields a literal (with a leading "[[" reduced to "["), so
// the caller need not test first. Errors are *Error with code
// InvalidTemplate.
func ParseExpression(s string) (Expr, error) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if s[1] == '[' {
			return stringLit{val: s[1:]}, nil
		}
		if n := len([]rune(s)); n > MaxExpressionLength {
			return nil, invalidTemplate(fmt.Sprintf("The template language expression length limit exceeded. Limit: '%d' and actual: '%d'.", MaxExpressionLength, n))
		}
		p := parser{src: s[1 : len(s)-1]}
		e, err := p.parseAll()
		if err != nil {
			return nil, invalidTemplate(fmt.Sprintf("Unable to parse language expression '%s': %s", s[1:len(s)-1], err))
		}
		return e, nil
	}
	return stringLit{val: s}, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tLParen
	tRParen
	tComma
	tDot
	tLBrack
	tRBrack
)

var tokNames = [...]string{
	tEOF: "EndOfData", tIdent: "Identifier", tString: "Literal", tInt: "Integer",
	tLParen: "LeftParenthesis", tRParen: "RightParenthesis", tComma: "Comma",
	tDot: "Dot", tLBrack: "LeftSquareBracket", tRBrack: "RightSquareBracket",
}

var punct = [256]tokKind{'(': tLParen, ')': tRParen, ',': tComma, '.': tDot, '[': tLBrack, ']': tRBrack}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	text string // identifier name or decoded string literal
	num  int64
	pos  int
}

type parser struct {
	src  string
	pos  int
	tok  token
	peek *token
}

type parseError struct {
	pos int
	msg string
}

func (e *parseError) Error() string { return fmt.Sprintf("%s at position '%d'.", e.msg, e.pos) }

func (p *parser) errf(pos int, format string, args ...any) error {
	return &parseError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (p *parser) lex() (token, error) {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := p.src[p.pos]
	switch {
	case punct[c] != 0:
		p.pos++
		return token{kind: punct[c], pos: start}, nil
	case c == '\'':
		var b strings.Builder
		p.pos++
		for {
			if p.pos >= len(p.src) {
				return token{}, p.errf(start, "the string literal is not terminated")
			}
			ch := p.src[p.pos]
			p.pos++
			if ch == '\'' {
				if p.pos < len(p.src) && p.src[p.pos] == '\'' {
					b.WriteByte('\'')
					p.pos++
					continue
				}
				return token{kind: tString, text: b.String(), pos: start}, nil
			}
			b.WriteByte(ch)
		}
	case isDigit(c) || (c == '-' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1])):
		p.pos++
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
		}
		text := p.src[start:p.pos]
		if p.pos < len(p.src) && (p.src[p.pos] == '.' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1])) {
			return token{}, p.errf(start, "the number literal '%s...' is not an integer; only integer literals are supported", text)
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return token{}, p.errf(start, "the integer literal '%s' is out of range", text)
		}
		return token{kind: tInt, num: n, text: text, pos: start}, nil
	case isIdentStart(c):
		p.pos++
		for p.pos < len(p.src) && (isIdentStart(p.src[p.pos]) || isDigit(p.src[p.pos])) {
			p.pos++
		}
		return token{kind: tIdent, text: p.src[start:p.pos], pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return token{}, p.errf(start, "the character '%c' is not expected", r)
}

func (p *parser) next() error {
	if p.peek != nil {
		p.tok, p.peek = *p.peek, nil
		return nil
	}
	t, err := p.lex()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) lookahead() (token, error) {
	if p.peek == nil {
		t, err := p.lex()
		if err != nil {
			return token{}, err
		}
		p.peek = &t
	}
	return *p.peek, nil
}

func (p *parser) expect(k tokKind) error {
	if p.tok.kind != k {
		return p.errf(p.tok.pos, "expected token '%s' and actual '%s'", k, p.tok.kind)
	}
	return p.next()
}

// parseAll parses a whole expression body. ARM requires the outermost
// expression to be a function call (optionally followed by member access),
// so a bare literal such as ['a'] is rejected as it is by Azure.
func (p *parser) parseAll() (Expr, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tIdent {
		return nil, p.errf(p.tok.pos, "expected token '%s' and actual '%s'", tIdent, p.tok.kind)
	}
	e, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errf(p.tok.pos, "expected token '%s' and actual '%s'", tEOF, p.tok.kind)
	}
	return e, nil
}

// maxNesting bounds recursion so hostile input cannot exhaust the stack
// even within the length limit.
const maxNesting = 512

func (p *parser) parseExpr(depth int) (Expr, error) {
	if depth > maxNesting {
		return nil, p.errf(p.tok.pos, "the expression is nested more than %d levels deep", maxNesting)
	}
	var e Expr
	switch p.tok.kind {
	case tString:
		e = stringLit{val: p.tok.text}
		if err := p.next(); err != nil {
			return nil, err
		}
	case tInt:
		e = intLit{val: p.tok.num}
		if err := p.next(); err != nil {
			return nil, err
		}
	case tIdent:
		c, err := p.parseCall(depth)
		if err != nil {
			return nil, err
		}
		e = c
	default:
		return nil, p.errf(p.tok.pos, "expected token '%s' and actual '%s'", tIdent, p.tok.kind)
	}
	for {
		switch p.tok.kind {
		case tDot:
			if err := p.next(); err != nil {
				return nil, err
			}
			if p.tok.kind != tIdent {
				return nil, p.errf(p.tok.pos, "expected token '%s' and actual '%s'", tIdent, p.tok.kind)
			}
			e = &property{x: e, name: p.tok.text}
			if err := p.next(); err != nil {
				return nil, err
			}
		case tLBrack:
			if err := p.next(); err != nil {
				return nil, err
			}
			idx, err := p.parseExpr(depth + 1)
			if err != nil {
				return nil, err
			}
			if err := p.expect(tRBrack); err != nil {
				return nil, err
			}
			e = &index{x: e, idx: idx}
		default:
			return e, nil
		}
	}
}

func (p *parser) parseCall(depth int) (*call, error) {
	name := p.tok.text
	// A user-defined function is called as namespace.name(...).
	if la, err := p.lookahead(); err != nil {
		return nil, err
	} else if la.kind == tDot {
		if err := p.next(); err != nil { // at '.'
			return nil, err
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != tIdent {
			return nil, p.errf(p.tok.pos, "expected token '%s' and actual '%s'", tIdent, p.tok.kind)
		}
		name += "." + p.tok.text
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if err := p.expect(tLParen); err != nil {
		return nil, err
	}
	c := &call{name: name}
	if p.tok.kind == tRParen {
		return c, p.next()
	}
	for {
		a, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, a)
		switch p.tok.kind {
		case tComma:
			if err := p.next(); err != nil {
				return nil, err
			}
		case tRParen:
			return c, p.next()
		default:
			return nil, p.errf(p.tok.pos, "expected token '%s' and actual '%s'", tRParen, p.tok.kind)
		}
	}
}
