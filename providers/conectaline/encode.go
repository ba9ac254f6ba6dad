package conectaline

import (
	"net/url"
	"slices"
	"unicode/utf8"
)

// A push/multiple body is ~100 bytes per entry and goes out 1000 entries
// at a time, so the two encodings it takes (JSON for the list, then form
// encoding for the field) are written by hand into pre-sized buffers
// rather than through encoding/json and url.Values.Encode. The output is
// byte for byte what those would give (json.Encoder with SetEscapeHTML
// false, minus the newline; url.Values.Encode).

// appendEntries appends entries as a JSON list of {"number","message"}
// objects.
func appendEntries(dst []byte, entries []multipleEntry) []byte {
	for i, e := range entries {
		dst = appendEntry(dst, i, e)
	}
	if len(entries) == 0 {
		dst = append(dst, '[')
	}
	return append(dst, ']')
}

// appendEntry appends entry i of the list: the '[' or ',' before it, then
// the object.
func appendEntry(dst []byte, i int, e multipleEntry) []byte {
	if i == 0 {
		dst = append(dst, '[')
	} else {
		dst = append(dst, ',')
	}
	dst = append(dst, `{"number":`...)
	dst = appendJSONString(dst, e.Number)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, e.Message)
	return append(dst, '}')
}

// multipleBody is the whole form of a push/multiple call: api_token (when
// given), configuration_name and the messages list, encoded in one buffer
// entry by entry.
func multipleBody(apiToken, configuration string, entries []multipleEntry) []byte {
	size := 64 + len(apiToken)*3 + len(configuration)*3
	for _, e := range entries {
		size += (len(e.Number) + len(e.Message) + 28) * 3 / 2
	}
	dst := make([]byte, 0, size)
	if apiToken != "" {
		dst = append(dst, "api_token="...)
		dst = appendQueryEscape(dst, apiToken)
		dst = append(dst, '&')
	}
	dst = append(dst, "configuration_name="...)
	dst = appendQueryEscape(dst, configuration)
	dst = append(dst, "&messages="...)
	scratch := make([]byte, 0, 256)
	for i, e := range entries {
		scratch = appendEntry(scratch[:0], i, e)
		dst = appendQueryEscape(dst, scratch)
	}
	if len(entries) == 0 {
		dst = append(dst, "%5B"...)
	}
	return append(dst, "%5D"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does without HTML escaping:
// '"', '\\' and control characters escaped, U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// formField is one field of a form body.
type formField struct{ key, value string }

// encodeValues is url.Values.Encode through encodeForm.
func encodeValues(v url.Values) []byte {
	fields := make([]formField, 0, len(v))
	for k, vs := range v {
		for _, x := range vs {
			fields = append(fields, formField{k, x})
		}
	}
	return encodeForm(fields)
}

// encodeForm form-encodes fields sorted by key, as url.Values.Encode does.
func encodeForm(fields []formField) []byte {
	slices.SortStableFunc(fields, func(a, b formField) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	n := 0
	for _, f := range fields {
		n += len(f.key) + len(f.value)*3/2 + 2
	}
	dst := make([]byte, 0, n)
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = appendQueryEscape(dst, f.key)
		dst = append(dst, '=')
		dst = appendQueryEscape(dst, f.value)
	}
	return dst
}

// appendQueryEscape escapes s as url.QueryEscape does: letters, digits
// and "-_.~" stay, space becomes '+', every other byte %XX.
func appendQueryEscape[T string | []byte](dst []byte, s T) []byte {
	const upper = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			continue
		}
		dst = append(dst, s[start:i]...)
		if c == ' ' {
			dst = append(dst, '+')
		} else {
			dst = append(dst, '%', upper[c>>4], upper[c&0xf])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}
