package emulator

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A TaskRouter expression evaluator: the subset of TaskRouter's expression
// language (https://www.twilio.com/docs/taskrouter/expression-syntax) that a
// workflow's task_routing filters need here, so the emulator can put a task
// in the queue its workflow says.
//
//	expr    := or
//	or      := and { ("OR" | "or" | "||") and }
//	and     := cmp { ("AND" | "and" | "&&") cmp }
//	cmp     := operand [ op operand ]
//	op      := "==" | "!=" | ">" | ">=" | "<" | "<=" | "IN" | "NOT IN" | "HAS" | "CONTAINS"
//	operand := "(" expr ")" | "[" [literal {"," literal}] "]" | literal | path
//	literal := 'string' | "string" | number | true | false | null
//	path    := name { "." name }        (a task attribute, e.g. verification.verified)
//
// A path the attributes do not have is null: null == x is false unless x is
// null, null != x the opposite, and an ordering with null is false. An
// operand without an operator must be a boolean (e.g. true, or a boolean
// attribute). Anything else is a syntax error naming what was not understood.

// exprNode is a parsed expression.
type exprNode interface {
	eval(attrs map[string]any) (any, error)
}

// parseExpr parses a TaskRouter expression.
func parseExpr(src string) (exprNode, error) {
	toks, err := lexExpr(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{src: src, toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("expression %q: unexpected %q", src, p.toks[p.pos].text)
	}
	return n, nil
}

// evalExpr evaluates a TaskRouter expression on task attributes.
func evalExpr(src string, attrs map[string]any) (bool, error) {
	n, err := parseExpr(src)
	if err != nil {
		return false, err
	}
	v, err := n.eval(attrs)
	if err != nil {
		return false, fmt.Errorf("expression %q: %w", src, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q is not a condition", src)
	}
	return b, nil
}

type tokKind int

const (
	tokOp tokKind = iota
	tokString
	tokNumber
	tokWord
	tokPunct
)

type token struct {
	kind tokKind
	text string
}

func lexExpr(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("expression %q: unterminated string", src)
			}
			toks = append(toks, token{tokString, src[i+1 : i+1+j]})
			i += j + 2
		case strings.ContainsRune("()[],", rune(c)):
			toks = append(toks, token{tokPunct, string(c)})
			i++
		case strings.HasPrefix(src[i:], "==") || strings.HasPrefix(src[i:], "!=") || strings.HasPrefix(src[i:], ">=") ||
			strings.HasPrefix(src[i:], "<=") || strings.HasPrefix(src[i:], "&&") || strings.HasPrefix(src[i:], "||"):
			toks = append(toks, token{tokOp, src[i : i+2]})
			i += 2
		case c == '>' || c == '<':
			toks = append(toks, token{tokOp, string(c)})
			i++
		case c == '-' || '0' <= c && c <= '9':
			j := i + 1
			for j < len(src) && (src[j] == '.' || '0' <= src[j] && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{tokNumber, src[i:j]})
			i = j
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] == '.' || src[j] == '-' || 'a' <= src[j] && src[j] <= 'z' ||
				'A' <= src[j] && src[j] <= 'Z' || '0' <= src[j] && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{tokWord, src[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("expression %q: unexpected %q", src, string(c))
		}
	}
	return toks, nil
}

type exprParser struct {
	src  string
	toks []token
	pos  int
}

func (p *exprParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

// keyword reports whether the next token is one of words (case-sensitive
// operators such as && or upper/lower-case AND), and consumes it.
func (p *exprParser) keyword(words ...string) bool {
	t, ok := p.peek()
	if !ok || (t.kind != tokWord && t.kind != tokOp) {
		return false
	}
	for _, w := range words {
		if t.text == w {
			p.pos++
			return true
		}
	}
	return false
}

func (p *exprParser) or() (exprNode, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR", "or", "||") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = logicNode{and: false, left: left, right: right}
	}
	return left, nil
}

func (p *exprParser) and() (exprNode, error) {
	left, err := p.cmp()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND", "and", "&&") {
		right, err := p.cmp()
		if err != nil {
			return nil, err
		}
		left = logicNode{and: true, left: left, right: right}
	}
	return left, nil
}

func (p *exprParser) cmp() (exprNode, error) {
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	t, ok := p.peek()
	if !ok {
		return left, nil
	}
	var op string
	switch {
	case t.kind == tokOp && t.text != "&&" && t.text != "||":
		op = t.text
		p.pos++
	case t.kind == tokWord && (strings.EqualFold(t.text, "IN") || strings.EqualFold(t.text, "HAS") || strings.EqualFold(t.text, "CONTAINS")):
		op = strings.ToUpper(t.text)
		p.pos++
	case t.kind == tokWord && strings.EqualFold(t.text, "NOT"):
		p.pos++
		if !p.keyword("IN", "in") {
			return nil, fmt.Errorf("expression %q: NOT must be followed by IN", p.src)
		}
		op = "NOT IN"
	default:
		return left, nil
	}
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	return cmpNode{op: op, left: left, right: right}, nil
}

func (p *exprParser) operand() (exprNode, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("expression %q: ends where an operand was expected", p.src)
	}
	p.pos++
	switch t.kind {
	case tokString:
		return literal{t.text}, nil
	case tokNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("expression %q: bad number %q", p.src, t.text)
		}
		return literal{f}, nil
	case tokWord:
		switch strings.ToLower(t.text) {
		case "true":
			return literal{true}, nil
		case "false":
			return literal{false}, nil
		case "null":
			return literal{nil}, nil
		case "and", "or", "in", "has", "contains", "not":
			return nil, fmt.Errorf("expression %q: %q where an operand was expected", p.src, t.text)
		}
		for _, name := range strings.Split(t.text, ".") {
			if name == "" {
				return nil, fmt.Errorf("expression %q: bad attribute path %q", p.src, t.text)
			}
		}
		return pathNode(strings.Split(t.text, ".")), nil
	case tokPunct:
		switch t.text {
		case "(":
			n, err := p.or()
			if err != nil {
				return nil, err
			}
			if t, ok := p.peek(); !ok || t.text != ")" {
				return nil, fmt.Errorf("expression %q: missing )", p.src)
			}
			p.pos++
			return n, nil
		case "[":
			var items []any
			for {
				t, ok := p.peek()
				if !ok {
					return nil, fmt.Errorf("expression %q: missing ]", p.src)
				}
				if t.text == "]" && t.kind == tokPunct {
					p.pos++
					return literal{items}, nil
				}
				if len(items) > 0 {
					if t.text != "," {
						return nil, fmt.Errorf("expression %q: want , or ] in a list", p.src)
					}
					p.pos++
				}
				n, err := p.operand()
				if err != nil {
					return nil, err
				}
				lit, ok := n.(literal)
				if !ok {
					return nil, fmt.Errorf("expression %q: a list holds literals only", p.src)
				}
				items = append(items, lit.v)
			}
		}
	}
	return nil, fmt.Errorf("expression %q: unexpected %q", p.src, t.text)
}

type literal struct{ v any }

func (l literal) eval(map[string]any) (any, error) { return l.v, nil }

type pathNode []string

func (p pathNode) eval(attrs map[string]any) (any, error) {
	var cur any = attrs
	for _, name := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		cur = m[name]
	}
	if n, ok := cur.(json.Number); ok {
		f, _ := n.Float64()
		return f, nil
	}
	return cur, nil
}

type logicNode struct {
	and         bool
	left, right exprNode
}

func (n logicNode) eval(attrs map[string]any) (any, error) {
	l, err := boolOf(n.left, attrs)
	if err != nil {
		return nil, err
	}
	if n.and && !l || !n.and && l {
		return l, nil
	}
	return boolOf(n.right, attrs)
}

func boolOf(n exprNode, attrs map[string]any) (bool, error) {
	v, err := n.eval(attrs)
	if err != nil {
		return false, err
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case nil:
		return false, nil // a missing attribute is not a condition that holds
	}
	return false, fmt.Errorf("%v is not a condition", v)
}

type cmpNode struct {
	op          string
	left, right exprNode
}

func (n cmpNode) eval(attrs map[string]any) (any, error) {
	l, err := n.left.eval(attrs)
	if err != nil {
		return nil, err
	}
	r, err := n.right.eval(attrs)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "==":
		return equalValues(l, r), nil
	case "!=":
		return !equalValues(l, r), nil
	case ">", ">=", "<", "<=":
		lf, lok := l.(float64)
		rf, rok := r.(float64)
		if !lok || !rok {
			return false, nil
		}
		switch n.op {
		case ">":
			return lf > rf, nil
		case ">=":
			return lf >= rf, nil
		case "<":
			return lf < rf, nil
		}
		return lf <= rf, nil
	case "IN", "NOT IN":
		list, ok := r.([]any)
		if !ok {
			return nil, fmt.Errorf("the right of %s must be a list", n.op)
		}
		in := false
		for _, x := range list {
			if equalValues(l, x) {
				in = true
			}
		}
		return in == (n.op == "IN"), nil
	case "HAS", "CONTAINS":
		list, ok := l.([]any)
		if !ok {
			if s, isString := l.(string); isString && n.op == "CONTAINS" {
				sub, _ := r.(string)
				return strings.Contains(s, sub), nil
			}
			return false, nil // a missing list has nothing
		}
		for _, x := range list {
			if equalValues(x, r) {
				return true, nil
			}
		}
		return false, nil
	}
	return nil, fmt.Errorf("operator %s", n.op)
}

func equalValues(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case string:
		s, ok := b.(string)
		return ok && s == a
	case float64:
		f, ok := b.(float64)
		return ok && f == a
	case bool:
		x, ok := b.(bool)
		return ok && x == a
	}
	return false
}
