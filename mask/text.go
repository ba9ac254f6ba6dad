package mask

import "slices"

// minPhoneDigits is the shortest digit run treated as a phone number: the
// shortest mobile numbers, written nationally, have 8 digits.
const minPhoneDigits = 8

// Text masks every phone-like run in s and leaves the rest alone. A run is
// digits, optionally after a "+", whose groups may be joined by one space,
// dot or dash ("+243 81-234.5678"); it is masked as Phone does when it holds
// 8 digits or more. Some shapes common in logs are recognised and kept:
//   - RFC 3339 timestamps and dates ("2026-11-22T20:13:17.123Z",
//     "2026-11-22 20:13"), UUIDs, IPv4 addresses;
//   - Go durations ("1h2m3.123456789s");
//   - decimal numbers ("12.345678"): a run with a single dot and no other
//     separator is masked only if one side has 8 digits on its own.
//
// Any other run of 8 digits or more is masked whatever it means (a Unix
// time, a long counter): it cannot be told from a phone number. So the
// result never holds 8 consecutive digits outside a timestamp, UUID or
// duration. Digits are replaced one for one: the length does not change.
func Text(s string) string {
	out, changed := appendMasked(nil, s)
	if !changed {
		return s
	}
	return string(out)
}

// appendMasked appends s with its phone-like runs masked to dst. When
// nothing needs masking it returns dst untouched and false, so callers can
// use s as is without copying.
func appendMasked[T ~string | ~[]byte](dst []byte, s T) ([]byte, bool) {
	last, changed := 0, false // s[last:i] is not yet copied to dst
	for i := 0; i < len(s); {
		c := s[i]
		if !isHex(c) && c != '+' {
			i++ // most bytes: nothing can start here
			continue
		}
		if n := keepToken(s, i); n > 0 {
			i += n
			continue
		}
		if !isDigit(c) && (c != '+' || i+1 == len(s) || !isDigit(s[i+1])) {
			i++
			continue
		}
		end, digits, mask := scanRun(s, i)
		if mask {
			if !changed {
				dst = slices.Grow(dst, len(s)) // the output is as long as s
			}
			dst = append(dst, s[last:i]...)
			dst = appendPhone(dst, s[i:end], digits)
			last, changed = end, true
		}
		i = end
	}
	if !changed {
		return dst, false
	}
	return append(dst, s[last:]...), true
}

// scanRun reads the phone-like run starting at s[i] (a digit, or "+" and a
// digit) and says where it ends, how many digits it has and whether it
// should be masked.
func scanRun[T ~string | ~[]byte](s T, i int) (end, digits int, mask bool) {
	plus := s[i] == '+'
	j := i
	if plus {
		j++
	}
	seps, dots, streak, longest := 0, 0, 0, 0
	for j < len(s) {
		c := s[j]
		if isDigit(c) {
			digits++
			streak++
			longest = max(longest, streak)
			j++
			continue
		}
		// One separator, between two digits (the previous byte is a
		// digit: the run starts with one and separators never repeat).
		if (c == ' ' || c == '.' || c == '-') && j+1 < len(s) && isDigit(s[j+1]) {
			if c == ' ' && (dateTimeLen(s, j+1) > len("2006-01-02") || uuidLen(s, j+1) > 0) {
				break // "attempt 3 2026-11-22T20:13:17Z": the timestamp is not part of the run
			}
			seps++
			if c == '.' {
				dots++
			}
			streak = 0
			j++
			continue
		}
		break
	}
	switch {
	case digits < minPhoneDigits:
		return j, digits, false
	case !plus && seps == 1 && dots == 1:
		return j, digits, longest >= minPhoneDigits // a decimal number
	}
	return j, digits, true
}

// keepToken returns the length of the timestamp, UUID, duration or IPv4
// address that starts at s[i], or 0. A token starts where a word does (a
// timestamp may also follow a letter) and must not run on into more
// digits, so that a longer digit run is never half taken for one.
func keepToken[T ~string | ~[]byte](s T, i int) int {
	c := s[i]
	var prev byte // 0 before the start: neither a letter nor a digit
	if i > 0 {
		prev = s[i-1]
	}
	if isHex(c) && !isAlnum(prev) {
		if n := uuidLen(s, i); n > 0 {
			return n
		}
	}
	if !isDigit(c) || isDigit(prev) {
		return 0
	}
	// A timestamp may follow a letter: ANSI colour codes end in "m".
	if n := dateTimeLen(s, i); n > 0 {
		return n
	}
	if isAlnum(prev) || prev == '.' {
		return 0
	}
	if n := durationLen(s, i); n > 0 {
		return n
	}
	return ipv4Len(s, i)
}

// endsWord reports whether s[j] is not a letter or digit (or is past the end).
func endsWord[T ~string | ~[]byte](s T, j int) bool { return j >= len(s) || !isAlnum(s[j]) }

// uuidLen matches 8-4-4-4-12 hex digits.
func uuidLen[T ~string | ~[]byte](s T, i int) int {
	const n = 36
	if len(s)-i < n {
		return 0
	}
	for k := 0; k < n; k++ {
		c := s[i+k]
		if k == 8 || k == 13 || k == 18 || k == 23 {
			if c != '-' {
				return 0
			}
		} else if !isHex(c) {
			return 0
		}
	}
	if !endsWord(s, i+n) {
		return 0
	}
	return n
}

// dateTimeLen matches yyyy-mm-dd, optionally followed by [T or space]
// hh:mm[:ss[.fraction]] and a zone (Z or ±hh:mm / ±hhmm).
func dateTimeLen[T ~string | ~[]byte](s T, i int) int {
	j := i
	if !digitsAt(s, j, 4) || !byteAt(s, j+4, '-') || !digitsAt(s, j+5, 2) || !byteAt(s, j+7, '-') || !digitsAt(s, j+8, 2) {
		return 0
	}
	j += 10
	if j+1 < len(s) && (s[j] == 'T' || s[j] == 't' || s[j] == ' ') && digitsAt(s, j+1, 2) && byteAt(s, j+3, ':') && digitsAt(s, j+4, 2) {
		j += 6
		if byteAt(s, j, ':') && digitsAt(s, j+1, 2) {
			j += 3
			if byteAt(s, j, '.') {
				if f := digitRun(s, j+1); f >= 1 && f <= 9 {
					j += 1 + f
				}
			}
		}
		switch {
		case byteAt(s, j, 'Z') || byteAt(s, j, 'z'):
			j++
		case (byteAt(s, j, '+') || byteAt(s, j, '-')) && digitsAt(s, j+1, 2):
			if byteAt(s, j+3, ':') && digitsAt(s, j+4, 2) {
				j += 6
			} else if digitsAt(s, j+3, 2) {
				j += 5
			}
		}
	}
	if j < len(s) && isDigit(s[j]) {
		return 0
	}
	return j - i
}

// durationLen matches what time.Duration.String prints: one or more
// number+unit pairs ("1h2m3.5s", "250ms", "1.5µs"). The integer part is
// at most 7 digits (2562047h is the longest duration), so a phone number
// followed by "s" or "m" is not taken for one.
func durationLen[T ~string | ~[]byte](s T, i int) int {
	j := i
	for {
		n := digitRun(s, j)
		if n == 0 || n > 7 {
			break
		}
		k := j + n
		if byteAt(s, k, '.') {
			f := digitRun(s, k+1)
			if f == 0 || f > 9 {
				break
			}
			k += 1 + f
		}
		u := unitLen(s, k)
		if u == 0 {
			break
		}
		j = k + u
	}
	if j == i || !endsWord(s, j) {
		return 0
	}
	return j - i
}

func unitLen[T ~string | ~[]byte](s T, k int) int {
	switch {
	case byteAt(s, k, 'n') && byteAt(s, k+1, 's'), byteAt(s, k, 'u') && byteAt(s, k+1, 's'), byteAt(s, k, 'm') && byteAt(s, k+1, 's'):
		return 2
	case byteAt(s, k, 0xC2) && byteAt(s, k+1, 0xB5) && byteAt(s, k+2, 's'), // µs (micro sign)
		byteAt(s, k, 0xCE) && byteAt(s, k+1, 0xBC) && byteAt(s, k+2, 's'): // μs (Greek mu)
		return 3
	case byteAt(s, k, 'h'), byteAt(s, k, 'm'), byteAt(s, k, 's'):
		return 1
	}
	return 0
}

// ipv4Len matches a dotted quad whose parts are 0–255.
func ipv4Len[T ~string | ~[]byte](s T, i int) int {
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if !byteAt(s, j, '.') {
				return 0
			}
			j++
		}
		n := digitRun(s, j)
		if n == 0 || n > 3 {
			return 0
		}
		v := 0
		for k := j; k < j+n; k++ {
			v = v*10 + int(s[k]-'0')
		}
		if v > 255 {
			return 0
		}
		j += n
	}
	// A fifth group means a longer dotted run, which scanRun judges.
	if byteAt(s, j, '.') && j+1 < len(s) && isDigit(s[j+1]) || j < len(s) && isDigit(s[j]) {
		return 0
	}
	return j - i
}

func byteAt[T ~string | ~[]byte](s T, j int, c byte) bool { return j < len(s) && s[j] == c }

func digitsAt[T ~string | ~[]byte](s T, j, n int) bool {
	if j+n > len(s) {
		return false
	}
	for k := j; k < j+n; k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	return true
}

func digitRun[T ~string | ~[]byte](s T, j int) int {
	n := 0
	for j+n < len(s) && isDigit(s[j+n]) {
		n++
	}
	return n
}
