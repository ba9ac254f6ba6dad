package conectaline

import "net/url"

// parseForm reads an urlencoded body as url.ParseQuery does. A body of
// plain keys (letters, digits, "_.-~") with well-formed escapes in the
// values is unescaped in place, so a large field costs one copy (its
// string) rather than url.ParseQuery's three; any other body, including
// every one ParseQuery would refuse, goes to url.ParseQuery. body is
// overwritten on the quick path.
func parseForm(body []byte) (url.Values, error) {
	if !plainForm(body) {
		return url.ParseQuery(string(body))
	}
	form := url.Values{}
	for len(body) > 0 {
		pair := body
		if i := indexByte(body, '&'); i >= 0 {
			pair, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(pair) == 0 {
			continue
		}
		key, value := pair, pair[:0]
		if i := indexByte(pair, '='); i >= 0 {
			key, value = pair[:i], pair[i+1:]
		}
		form[string(key)] = append(form[string(key)], string(unescapeInPlace(value)))
	}
	return form, nil
}

// plainForm reports whether the body has a few fields (url.ParseQuery
// caps their number), every key is plain and every '%' in a value starts
// a valid escape: then parseForm's quick path gives what url.ParseQuery
// gives.
func plainForm(b []byte) bool {
	inKey, fields := true, 1
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '&':
			inKey = true
			if fields++; fields > 64 {
				return false
			}
		case inKey && c == '=':
			inKey = false
		case inKey:
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' || c == '~') {
				return false
			}
		case c == ';':
			return false
		case c == '%':
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

// unescapeInPlace decodes '+' and %XX (already checked by plainForm) and
// returns the decoded prefix of v.
func unescapeInPlace(v []byte) []byte {
	n := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '+':
			v[n] = ' '
		case '%':
			v[n] = unhex(v[i+1])<<4 | unhex(v[i+2])
			i += 2
		default:
			v[n] = c
		}
		n++
	}
	return v[:n]
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
