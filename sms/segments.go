package sms

import "unicode/utf8"

// Encoding is the character set a message is sent in.
type Encoding string

const (
	// GSM7 is the GSM 03.38 default alphabet with its extension table:
	// 7-bit septets, 2 for an extension character (escape + code).
	GSM7 Encoding = "GSM-7"
	// UCS2 is 16-bit UTF-16 code units, used as soon as one character is
	// outside GSM-7.
	UCS2 Encoding = "UCS-2"
)

// Segment capacities. A multipart message loses room in every part to the
// concatenation header (6 octets of user data header).
const (
	gsmSingle  = 160
	gsmMulti   = 153
	ucs2Single = 70
	ucs2Multi  = 67
)

// Info is how a text travels over SMS.
type Info struct {
	Encoding Encoding
	// Units is the length in the encoding: septets for GSM-7 (extension
	// characters count 2), UTF-16 code units for UCS-2 (characters outside
	// the Basic Multilingual Plane, e.g. most emoji, count 2).
	Units int
	// Segments is the number of SMS the text needs; 0 for an empty text.
	Segments int
	// PerSegment is the capacity of each segment: 160/70 for a single
	// message, 153/67 once the text is split.
	PerSegment int
}

// Segments tells how text is encoded and into how many SMS it splits. An
// escape pair (GSM-7) or a surrogate pair (UCS-2) is never cut between two
// segments, so the count comes from filling segments one character at a
// time rather than dividing the length. Invalid UTF-8 bytes count as one
// U+FFFD each, which is what a transcoder would send.
func Segments(text string) Info {
	septets := 0
	for i := 0; i < len(text); {
		var w int
		if c := text[i]; c < utf8.RuneSelf {
			w = asciiSeptets(c)
			i++
		} else {
			r, size := utf8.DecodeRuneInString(text[i:])
			w = gsmSeptets(r)
			i += size
		}
		if w == 0 {
			return ucs2Segments(text)
		}
		septets += w
	}
	info := Info{Encoding: GSM7, Units: septets, PerSegment: gsmSingle}
	switch {
	case septets == 0:
	case septets <= gsmSingle:
		info.Segments = 1
	default:
		info.PerSegment = gsmMulti
		info.Segments = gsmFill(text)
	}
	return info
}

// gsmFill counts multipart GSM-7 segments; text is known to be all GSM-7.
func gsmFill(text string) int {
	segs, used := 1, 0
	for i := 0; i < len(text); {
		var w int
		if c := text[i]; c < utf8.RuneSelf {
			w = asciiSeptets(c)
			i++
		} else {
			r, size := utf8.DecodeRuneInString(text[i:])
			w = gsmSeptets(r)
			i += size
		}
		if used+w > gsmMulti {
			segs, used = segs+1, 0
		}
		used += w
	}
	return segs
}

func ucs2Segments(text string) Info {
	units := 0
	for _, r := range text {
		units += utf16Len(r)
	}
	info := Info{Encoding: UCS2, Units: units, PerSegment: ucs2Single}
	if units <= ucs2Single {
		info.Segments = 1 // text is not empty: it holds a non-GSM character
		return info
	}
	info.PerSegment = ucs2Multi
	segs, used := 1, 0
	for _, r := range text {
		w := utf16Len(r)
		if used+w > ucs2Multi {
			segs, used = segs+1, 0
		}
		used += w
	}
	info.Segments = segs
	return info
}

func utf16Len(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

// asciiSeptets is the GSM-7 length of an ASCII byte, 0 if GSM-7 lacks it.
func asciiSeptets(c byte) int {
	switch {
	case c == '\n' || c == '\r':
		return 1
	case c == '\f':
		return 2 // extension table: page break
	case c < ' ' || c == '`' || c == 0x7F:
		return 0
	case c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' || c == '~' || c == ']' || c == '|':
		return 2
	}
	return 1
}

// gsmSeptets is the GSM-7 length of a non-ASCII rune, 0 if GSM-7 lacks it.
func gsmSeptets(r rune) int {
	switch r {
	case '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å',
		'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ',
		'Æ', 'æ', 'ß', 'É', '¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§', '¿',
		'ä', 'ö', 'ñ', 'ü', 'à':
		return 1
	case '€':
		return 2
	}
	return 0
}
