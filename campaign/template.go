package campaign

import (
	"strconv"
	"strings"
)

// Template is a message with {{field}} placeholders filled from a
// recipient's CSV columns. Field names are matched without regard to case
// or surrounding spaces: {{ First_Name }} reads the column "first_name".
type Template struct {
	parts  []string // literal text; parts[i] comes before fields[i]
	fields []int    // index into Fields() of each placeholder
	names  []string // distinct field names, lower case, in first-use order
}

// ParseTemplate reads s. An unclosed "{{", an empty "{{}}" or a name with
// braces in it is an error naming the field "message".
func ParseTemplate(s string) (*Template, error) {
	t := &Template{}
	index := map[string]int{}
	var lit strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			lit.WriteString(rest)
			break
		}
		lit.WriteString(rest[:i])
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, &FieldError{Field: "message", Reason: "a \"{{\" is never closed with \"}}\""}
		}
		name := strings.ToLower(strings.TrimSpace(rest[i+2 : i+2+j]))
		switch {
		case name == "":
			return nil, &FieldError{Field: "message", Reason: "empty placeholder {{}}: name a column, e.g. {{name}}"}
		case strings.ContainsAny(name, "{}"):
			return nil, &FieldError{Field: "message", Reason: "placeholder " + strconv.Quote(name) + " contains a brace"}
		}
		k, ok := index[name]
		if !ok {
			k = len(t.names)
			index[name] = k
			t.names = append(t.names, name)
		}
		t.parts = append(t.parts, lit.String())
		t.fields = append(t.fields, k)
		lit.Reset()
		rest = rest[i+2+j+2:]
	}
	t.parts = append(t.parts, lit.String())
	return t, nil
}

// Fields lists the distinct field names the template reads, lower case,
// in order of first use. Render takes values in this order.
func (t *Template) Fields() []string { return append([]string(nil), t.names...) }

// Static reports whether the template has no placeholders: every
// recipient gets the same text.
func (t *Template) Static() bool { return len(t.names) == 0 }

// Render fills the placeholders with values (in Fields order; a missing
// value renders empty).
func (t *Template) Render(values []string) string {
	if len(t.fields) == 0 {
		return t.parts[0]
	}
	n := 0
	for _, p := range t.parts {
		n += len(p)
	}
	for _, k := range t.fields {
		if k < len(values) {
			n += len(values[k])
		}
	}
	var b strings.Builder
	b.Grow(n)
	for i, k := range t.fields {
		b.WriteString(t.parts[i])
		if k < len(values) {
			b.WriteString(values[k])
		}
	}
	b.WriteString(t.parts[len(t.parts)-1])
	return b.String()
}
