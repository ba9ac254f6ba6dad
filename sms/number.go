package sms

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// maxNumberInput bounds what we hand to phonenumbers: no real number,
// however formatted, comes near it.
const maxNumberInput = 64

// NormalizeNumber parses a phone number typed by a person or found in a
// file and returns it in E.164 ("+243812345678").
//
// Accepted: international numbers with "+" or the "00" prefix, and, when
// defaultRegion (ISO 3166 code such as "CD", any case) is set, national
// numbers of that region ("081 234 5678") and numbers written with the
// region's country code but no prefix ("243 81 234 5678"). An empty
// defaultRegion requires an international number. Spaces, dots, dashes,
// slashes and parentheses are ignored; letters (vanity numbers, "tel:",
// extensions) are refused. The number must be one phonenumbers considers
// valid (an assigned range of the country's numbering plan).
//
// Errors are *FieldError with Field "to" matching ErrInvalidNumber, or
// Field "region" matching ErrBadRegion.
func NormalizeNumber(raw, defaultRegion string) (string, error) {
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if region != "" && phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return "", &FieldError{Field: "region", Reason: strconv.Quote(defaultRegion) + " is not a known ISO 3166 region code", Err: ErrBadRegion}
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", numberError("required")
	}
	if len(s) > maxNumberInput {
		return "", numberError("too long to be a phone number")
	}
	// clean is s with every kind of space made a plain one (phonenumbers
	// refuses tabs and newlines); digits is s without any separator.
	var clean, digits strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
		case r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		case unicode.IsSpace(r):
			r = ' '
		default:
			// phonenumbers would turn letters into digits (1-800-FLOWERS)
			// or read them as an extension; neither can receive an SMS.
			return "", numberError("may contain only digits, a leading +, spaces and . - / ( )")
		}
		clean.WriteRune(r)
	}
	if digits.Len() == 0 {
		return "", numberError("has no digits")
	}
	s = clean.String()
	international := s[0] == '+'
	// "00" is the international prefix in most of the world, but
	// phonenumbers only knows the default region's own prefix (011 in the
	// US, 0011 in Australia) and none at all without a region. So the
	// region's reading wins when it gives a valid number, "00" → "+" next.
	idd := !international && strings.HasPrefix(digits.String(), "00")
	if !international && !idd && region == "" {
		return "", numberError("must be in international format (+ and country code) when no default region is set")
	}
	asIntl := "+" + digits.String()[min(2, digits.Len()):]
	var num *phonenumbers.PhoneNumber
	var err error
	if idd && region == "" {
		num, err = parseValid(asIntl, "")
	} else {
		num, err = parseValid(s, region)
		if err != nil && idd {
			if n2, err2 := parseValid(asIntl, ""); err2 == nil {
				num, err = n2, nil
			}
		}
	}
	if err != nil {
		return "", err
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// ValidateNumber reports whether raw is a number NormalizeNumber accepts.
func ValidateNumber(raw, defaultRegion string) error {
	_, err := NormalizeNumber(raw, defaultRegion)
	return err
}

func parseValid(s, region string) (*phonenumbers.PhoneNumber, error) {
	num, err := phonenumbers.Parse(s, region)
	switch {
	case err == phonenumbers.ErrInvalidCountryCode:
		return nil, numberError("unknown country calling code")
	case err == phonenumbers.ErrTooShortNSN || err == phonenumbers.ErrTooShortAfterIDD:
		return nil, numberError("too short")
	case err == phonenumbers.ErrNumTooLong:
		return nil, numberError("too long")
	case err != nil:
		return nil, numberError("not a phone number")
	}
	if num.GetExtension() != "" {
		return nil, numberError("has an extension, which SMS cannot reach")
	}
	if !phonenumbers.IsValidNumber(num) {
		cc := strconv.Itoa(int(num.GetCountryCode()))
		return nil, numberError("not a valid number for country code +" + cc)
	}
	return num, nil
}

func numberError(reason string) *FieldError {
	return &FieldError{Field: "to", Reason: reason, Err: ErrInvalidNumber}
}

// ExampleNumber returns the i-th of a sequence of distinct mobile numbers of
// region, in E.164, each checked valid by phonenumbers: test and demo data.
//
// CD yields +24381xxxxxxx (Vodacom's range, 10,000,000 numbers), ES
// +346xxxxxxxx (100,000,000), US +14155xxxxxx (1,000,000, which includes the
// 555 exchange); any other region varies the last 4 digits of phonenumbers'
// example mobile number (10,000 numbers; fewer for a handful of tiny
// territories such as TK). i counts from 0.
//
// Like regexp.MustCompile it panics on a caller bug: an unknown region, an i
// outside the range above, or a generated number phonenumbers rejects (the
// CD, ES and US ranges have none; FM, NU and BQ do).
func ExampleNumber(region string, i int) string {
	region = strings.ToUpper(region)
	cc := phonenumbers.GetCountryCodeForRegion(region)
	if cc == 0 {
		panic("sms.ExampleNumber: unknown region " + strconv.Quote(region))
	}
	prefix, width := exampleRange(region)
	if prefix == "" {
		ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
		if ex == nil {
			ex = phonenumbers.GetExampleNumber(region)
		}
		if ex == nil {
			panic("sms.ExampleNumber: phonenumbers has no example number for " + region)
		}
		nsn := phonenumbers.GetNationalSignificantNumber(ex)
		width = min(4, len(nsn)-2)
		prefix = nsn[:len(nsn)-width]
	}
	limit := 1
	for range width {
		limit *= 10
	}
	if i < 0 || i >= limit {
		panic("sms.ExampleNumber: index " + strconv.Itoa(i) + " outside [0, " + strconv.Itoa(limit) + ") for " + region)
	}
	suffix := strconv.Itoa(i)
	e164 := "+" + strconv.Itoa(cc) + prefix + strings.Repeat("0", width-len(suffix)) + suffix
	num, err := phonenumbers.Parse(e164, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		panic("sms.ExampleNumber: generated number " + strconv.Itoa(i) + " for " + region + " is not valid")
	}
	return e164
}

// exampleRange gives the national prefix and the number of free digits for
// the regions smsq's tests and demos use; "" for any other region.
func exampleRange(region string) (prefix string, width int) {
	switch region {
	case "CD":
		return "81", 7
	case "ES":
		return "6", 8
	case "US":
		return "4155", 6
	}
	return "", 0
}
