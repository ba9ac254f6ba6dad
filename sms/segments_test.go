package sms_test

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/sms"
)

// The GSM 03.38 default alphabet in code order, escape (0x1B) left out,
// and the characters of its extension table.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[]~|€"
)

func TestSegments(t *testing.T) {
	t.Parallel()
	a := func(n int) string { return strings.Repeat("a", n) }
	cyr := func(n int) string { return strings.Repeat("д", n) }
	const emoji = "😀" // outside the BMP: a surrogate pair in UTF-16

	cases := []struct {
		name string
		text string
		want sms.Info
	}{
		{"empty", "", sms.Info{sms.GSM7, 0, 0, 160}},
		{"one char", "a", sms.Info{sms.GSM7, 1, 1, 160}},
		{"whole basic alphabet", gsmBasic, sms.Info{sms.GSM7, 127, 1, 160}},
		{"extension table counts 2 each", gsmExtension, sms.Info{sms.GSM7, 20, 1, 160}},
		{"GSM single full", a(160), sms.Info{sms.GSM7, 160, 1, 160}},
		{"GSM one over", a(161), sms.Info{sms.GSM7, 161, 2, 153}},
		{"GSM 2 full parts", a(306), sms.Info{sms.GSM7, 306, 2, 153}},
		{"GSM 3 parts", a(307), sms.Info{sms.GSM7, 307, 3, 153}},
		{"GSM 10 full parts", a(1530), sms.Info{sms.GSM7, 1530, 10, 153}},
		{"GSM 11 parts", a(1531), sms.Info{sms.GSM7, 1531, 11, 153}},
		{"80 euros fill one message", strings.Repeat("€", 80), sms.Info{sms.GSM7, 160, 1, 160}},
		{"escape at 159-160 stays single", a(158) + "€", sms.Info{sms.GSM7, 160, 1, 160}},
		{"escape past 160 goes multipart", a(159) + "€", sms.Info{sms.GSM7, 161, 2, 153}},
		{"escape ending exactly at 153", a(151) + "{" + a(153), sms.Info{sms.GSM7, 306, 2, 153}},
		// 152 septets, then an escape pair that would straddle 153/154: it
		// moves whole to part 2, which overflows by one into part 3.
		{"escape not split at the boundary", a(152) + "€" + a(152), sms.Info{sms.GSM7, 306, 3, 153}},
		{"form feed not split", a(152) + "\f" + a(152), sms.Info{sms.GSM7, 306, 3, 153}},
		{"GSM accented letters stay GSM", "Café à Kinshasa, 5€", sms.Info{sms.GSM7, 20, 1, 160}},
		{"UCS-2 single full", cyr(70), sms.Info{sms.UCS2, 70, 1, 70}},
		{"UCS-2 one over", cyr(71), sms.Info{sms.UCS2, 71, 2, 67}},
		{"UCS-2 2 full parts", cyr(134), sms.Info{sms.UCS2, 134, 2, 67}},
		{"UCS-2 3 parts", cyr(135), sms.Info{sms.UCS2, 135, 3, 67}},
		{"one non-GSM char makes all UCS-2", a(69) + "ç", sms.Info{sms.UCS2, 70, 1, 70}},
		{"and splits sooner", a(70) + "ç", sms.Info{sms.UCS2, 71, 2, 67}},
		{"backtick is not GSM", "`", sms.Info{sms.UCS2, 1, 1, 70}},
		{"ESC itself is not text", "\x1b", sms.Info{sms.UCS2, 1, 1, 70}},
		{"tab is not GSM", "a\tb", sms.Info{sms.UCS2, 3, 1, 70}},
		{"emoji is 2 units", emoji, sms.Info{sms.UCS2, 2, 1, 70}},
		{"35 emoji fill one message", strings.Repeat(emoji, 35), sms.Info{sms.UCS2, 70, 1, 70}},
		{"36 emoji, 33 per part", strings.Repeat(emoji, 36), sms.Info{sms.UCS2, 72, 2, 67}},
		{"surrogate pair not split", cyr(66) + emoji + cyr(66), sms.Info{sms.UCS2, 134, 3, 67}},
		{"surrogate pair ending exactly at 67", cyr(65) + emoji + cyr(67), sms.Info{sms.UCS2, 134, 2, 67}},
		{"invalid UTF-8 counts as U+FFFD", "a\xffb", sms.Info{sms.UCS2, 3, 1, 70}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, sms.Segments(tc.text))
		})
	}
}

// naiveCount recounts text the slow, obvious way: look every character up
// in the alphabet strings above, then pour the weights into segments.
func naiveCount(text string) sms.Info {
	var weights []int
	gsm := true
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			weights = append(weights, 1)
		case strings.ContainsRune(gsmExtension, r):
			weights = append(weights, 2)
		default:
			gsm = false
		}
	}
	enc, single, multi := sms.GSM7, 160, 153
	if !gsm {
		enc, single, multi = sms.UCS2, 70, 67
		weights = weights[:0]
		for _, r := range text {
			weights = append(weights, len(utf16.Encode([]rune{r})))
		}
	}
	units := 0
	for _, w := range weights {
		units += w
	}
	if units <= single {
		segs := 1
		if units == 0 {
			segs = 0
		}
		return sms.Info{Encoding: enc, Units: units, Segments: segs, PerSegment: single}
	}
	var parts [][]int
	for _, w := range weights {
		last := len(parts) - 1
		if last < 0 || sum(parts[last])+w > multi {
			parts = append(parts, nil)
			last++
		}
		parts[last] = append(parts[last], w)
	}
	return sms.Info{Encoding: enc, Units: units, Segments: len(parts), PerSegment: multi}
}

func sum(ws []int) int {
	n := 0
	for _, w := range ws {
		n += w
	}
	return n
}

func FuzzSegments(f *testing.F) {
	for _, s := range []string{"", "a", "hello", gsmBasic, gsmExtension, strings.Repeat("€", 81),
		strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), strings.Repeat("д", 66) + "😀" + strings.Repeat("д", 66),
		"\xff\xfe", "`", "\x1b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := sms.Segments(text)
		require.Equal(t, naiveCount(text), got)
		require.GreaterOrEqual(t, got.Segments*got.PerSegment, got.Units)
		require.Equal(t, got.Units == 0, got.Segments == 0)
		if got.Segments > 1 {
			// A part loses at most one unit to a pair that did not fit.
			require.LessOrEqual(t, got.Segments*(got.PerSegment-1), got.Units+got.PerSegment)
		}
	})
}

func BenchmarkSegments(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"GSM_short", "Your code is 483920. It expires in 10 minutes."},
		{"GSM_3parts_ext", strings.Repeat("Promo {week} -20% on [all] items! ", 12)},
		{"UCS2_short", "Привет! Ваш код: 483920 😀"},
		{"UCS2_3parts", strings.Repeat("Réduction spéciale ç 😀 ", 8)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				sms.Segments(bc.text)
			}
		})
	}
}
