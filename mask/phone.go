// Package mask is the one place where phone numbers and secrets are hidden
// before they reach a log or a screen: Phone for a number on its own, Text
// for free text, Secrets for tokens and passwords, and NewWriter to do both
// to every line a zerolog logger writes.
package mask

// Phone hides the middle of a phone number. With 8 digits or more it keeps
// the first 3 digits (the country code, or most of it) and the last 2:
// "+243851234567" → "+243*******67". Shorter input keeps only the last 2
// digits. Anything that is not a digit ("+", spaces, dashes) stays in place,
// so formatted numbers keep their shape.
func Phone(e164 string) string {
	digits := countDigits(e164)
	if digits == 0 {
		return e164
	}
	return string(appendPhone(make([]byte, 0, len(e164)), e164, digits))
}

// appendPhone appends s with its digits starred as Phone describes; digits
// is the number of digits in s.
func appendPhone[T ~string | ~[]byte](dst []byte, s T, digits int) []byte {
	head, tail := 3, 2
	if digits < 8 {
		head = 0
	}
	k := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isDigit(c) {
			if k >= head && k < digits-tail {
				c = '*'
			}
			k++
		}
		dst = append(dst, c)
	}
	return dst
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
