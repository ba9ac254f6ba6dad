package mask

import (
	"bytes"
	"sort"
	"sync"
	"unicode/utf8"
)

// redacted replaces every secret.
const redacted = "***"

// minSecretLen is the shortest value Secrets accepts: shorter ones (a port,
// "true") would blank out ordinary text everywhere.
const minSecretLen = 4

// Secrets is a set of values (tokens, passwords, keys) that must never be
// written out. Register each one as soon as it is loaded or fetched. The
// zero value is an empty set ready to use; it is safe for concurrent use and
// must not be copied.
type Secrets struct {
	mu sync.RWMutex
	// values holds each secret and, where it differs, the form a JSON
	// encoder writes it in; longest first so that a secret containing
	// another is replaced whole.
	values [][]byte
}

// Add registers secrets. Values shorter than 4 characters are ignored, as
// are values already present.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if utf8.RuneCountInString(v) < minSecretLen {
			continue
		}
		s.insert([]byte(v))
		// zerolog escapes quotes, backslashes and control characters, so a
		// secret holding one appears in a log line only in escaped form.
		if esc := jsonEscape(v); esc != v {
			s.insert([]byte(esc))
		}
	}
	sort.SliceStable(s.values, func(i, j int) bool { return len(s.values[i]) > len(s.values[j]) })
}

func (s *Secrets) insert(v []byte) {
	for _, have := range s.values {
		if bytes.Equal(have, v) {
			return
		}
	}
	s.values = append(s.values, v)
}

// Redact returns b with every occurrence of a secret replaced by "***". It
// never modifies b: when no secret occurs it returns b itself, otherwise a
// new slice.
func (s *Secrets) Redact(b []byte) []byte {
	if out, changed := s.appendRedacted(nil, b); changed {
		return out
	}
	return b
}

// appendRedacted appends src with its secrets replaced to dst. When src holds
// no secret it returns dst untouched and false.
func (s *Secrets) appendRedacted(dst, src []byte) ([]byte, bool) {
	if s == nil {
		return dst, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	changed, pos := false, 0
	for pos < len(src) {
		// The leftmost occurrence of any secret; on a tie the longest,
		// which comes first in values.
		at, size := -1, 0
		for _, v := range s.values {
			window := src[pos:]
			if at >= 0 {
				// Only a match starting before the best one can win.
				window = window[:min(len(window), at+len(v)-1)]
			}
			if k := bytes.Index(window, v); k >= 0 && (at < 0 || k < at) {
				at, size = k, len(v)
			}
		}
		if at < 0 {
			break
		}
		dst = append(dst, src[pos:pos+at]...)
		dst = append(dst, redacted...)
		pos += at + size
		changed = true
	}
	if !changed {
		return dst, false
	}
	return append(dst, src[pos:]...), true
}

// jsonEscape writes v the way zerolog writes a string value, without the
// quotes: quotes, backslashes and control characters escaped, invalid UTF-8
// as \ufffd.
func jsonEscape(v string) string {
	const hex = "0123456789abcdef"
	var b []byte
	for i := 0; i < len(v); {
		c := v[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, v[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return string(b)
}
